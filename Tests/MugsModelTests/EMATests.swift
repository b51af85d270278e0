import Foundation
import Testing
@testable import MugsModel

@Suite struct EMATests {
    /// Teacher EMA (by name, predictors excluded) and the centre update against the torch fixture.
    @Test func teacherAndCenterMatchTorch() throws {
        let fx = try StateApplyFixture()
        let student = ParameterBuffer(layout: fx.studentLayout), teacher = ParameterBuffer(layout: fx.teacherLayout)
        let ema = try TeacherEMA(teacher: fx.teacherLayout, student: fx.studentLayout)
        try fx.load(teacher, prefix: "init.teacher.")
        var center = try fx.tensor("init.center")
        let P = fx.int("P"), B = fx.int("B")
        for k in 0 ..< fx.steps {
            try fx.load(student, prefix: "step\(k).student.")
            ema.update(teacher: teacher, student: student, momentum: fx.double("step\(k).momentum"))
            for spec in fx.teacherLayout.specs {
                expectClose(UnsafeBufferPointer(teacher[spec.name]), try fx.tensor("step\(k).teacher.\(spec.name)"),
                            tol: 1e-7, "step \(k) teacher \(spec.name)")
            }
            // Centre: Σ over the 2B teacher rows (in row order, Float32 as the fused buffer holds it).
            let out = try fx.tensor("step\(k).teacher_output")
            var sums = [Float](repeating: 0, count: P)
            for r in 0 ..< 2 * B { for p in 0 ..< P { sums[p] += out[r * P + p] } }
            center.withUnsafeMutableBufferPointer { c in
                TeacherEMA.updateCenter(c.baseAddress!, sums: sums, rows: 2 * B, count: P,
                                        momentum: fx.double("center_momentum"))
            }
            center.withUnsafeBufferPointer { c in
                expectClose(c, try! fx.tensor("step\(k).center"), tol: 1e-6, "step \(k) center")
            }
        }
    }

    @Test func mismatchedLayoutsAreNamed() {
        var s = ParameterLayout(), t = ParameterLayout()
        s.add("a", [2])
        t.add("a", [3])
        #expect(throws: TrainStateError.self) { try TeacherEMA(teacher: t, student: s) }
        var t2 = ParameterLayout()
        t2.add("b", [2])
        do { _ = try TeacherEMA(teacher: t2, student: s) } catch let e as TrainStateError {
            #expect(e.reason == .missingTensor("b"))
        } catch { Issue.record("unexpected \(error)") }
    }
}
