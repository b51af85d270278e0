import Foundation
import SafeTensors
import TestSupport
import Testing
@testable import MugsModel

/// Runs the built `mugs` executable (the products directory holds it beside this test bundle's resources).
struct MugsProcess {
    let status: Int32
    let output: String
    let error: String

    static var executable: URL {
        Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("mugs")
    }

    /// Runs `mugs arguments…`, killing it after `timeout` seconds (then `status` is -1).
    static func run(_ arguments: [String], timeout: TimeInterval = 120) throws -> MugsProcess {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        try p.run()
        // Drain both pipes while waiting so a chatty child cannot block on a full pipe.
        let captured = Captured()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { captured.out = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { captured.err = err.fileHandleForReading.readDataToEndOfFile() }
        if done.wait(timeout: .now() + timeout) == .timedOut {
            p.terminate()
            _ = done.wait(timeout: .now() + 5)
            group.wait()
            return MugsProcess(status: -1, output: String(decoding: captured.out, as: UTF8.self),
                               error: "timed out after \(timeout) s")
        }
        group.wait()
        let status = p.terminationReason == .exit ? p.terminationStatus : 128 + p.terminationStatus
        return MugsProcess(status: status, output: String(decoding: captured.out, as: UTF8.self),
                           error: String(decoding: captured.err, as: UTF8.self))
    }

    /// Each field is written by one reader thread and read after `group.wait()`.
    private final class Captured: @unchecked Sendable {
        var out = Data(), err = Data()
    }
}

/// `mugs embed` end to end: the real executable, files in and out, and its error messages.
@Suite(.serialized) struct EmbedCLITests {
    @Test func executableIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: MugsProcess.executable.path),
                "no mugs executable at \(MugsProcess.executable.path): `swift build` it first")
    }

    @Test func embedsVitTinyFromACheckpointDirectory() throws {
        let dir = makeTemporaryDirectory("embed-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A checkpoint-like directory: the backbone under teacher.backbone., beside other tensors.
        try FileManager.default.createDirectory(atPath: dir + "/ckpt", withIntermediateDirectories: true)
        try writeTinyWeights(to: dir + "/ckpt/model.safetensors", prefix: "teacher.backbone.")
        // Input 1 of the fixture: 96×96, the position embedding interpolated from 14×14 to 6×6.
        let images = ViTFixtureFormula.values("input.1", shape: [1, 3, 96, 96])
        try SafeTensors.write(path: dir + "/images.safetensors",
                              tensors: [SafeTensorsEntry("images", shape: [1, 3, 96, 96], values: images)])
        let r = try MugsProcess.run(["embed", "--weights", dir + "/ckpt", "--arch", "vit_tiny", "--patch-size", "16",
                                     "--tensor-input", dir + "/images.safetensors", "--out", dir + "/cls.safetensors",
                                     "--threads", "2"])
        #expect(r.status == 0, "mugs embed failed: \(r.error)")
        #expect(r.output.contains("weights prefix 'teacher.backbone.'"), "\(r.output)")
        let out = try SafeTensors.read(path: dir + "/cls.safetensors")
        #expect(out.names == ["cls"] && out.shape(of: "cls") == [1, 192])
        #expect(out.metadata["arch"] == "vit_tiny" && out.metadata["image_size"] == "96x96")
        let want = try SafeTensors.read(path: fixturePath("vit_tiny.safetensors")).tensor("cls.1").data
        let d = clsMaxDiff(try out.tensor("cls").data, want)
        print("mugs embed vit_tiny 96×96: max |cls − reference| = \(d)")
        #expect(d <= EmbedTolerance.cls)
    }

    @Test func errorsAreMessagesNotCrashes() throws {
        let dir = makeTemporaryDirectory("embed-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeReducedWeights(to: dir + "/reduced.safetensors")
        try SafeTensors.write(path: dir + "/images.safetensors",
                              tensors: [SafeTensorsEntry("images", shape: [1, 3, 20, 16],
                                                         values: .init(repeating: 0, count: 960))])
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: dir + "/junk.safetensors"))
        let base = ["embed", "--tensor-input", dir + "/images.safetensors", "--out", dir + "/o.safetensors"]
        let cases: [([String], [String])] = [
            (["embed"], ["Missing expected argument"]),
            (base + ["--weights", dir + "/reduced.safetensors", "--arch", "vit_huge"],
             ["unknown ViT preset 'vit_huge'"]),
            (base + ["--weights", dir + "/reduced.safetensors", "--arch", "vit_tiny", "--batch", "0"], ["--batch"]),
            (base + ["--weights", dir + "/nope.safetensors", "--arch", "vit_tiny"],
             ["nope.safetensors", "cannot open"]),
            (base + ["--weights", dir + "/junk.safetensors", "--arch", "vit_tiny"], ["junk.safetensors", "header"]),
            (base + ["--weights", dir + "/reduced.safetensors", "--arch", "vit_tiny"],
             ["embedding dim 32", "vit_tiny has 192"]),
            (base + ["--weights", dir + "/reduced.safetensors", "--arch", "vit_tiny", "--prefix", "teacher."],
             ["no backbone under prefix 'teacher.'"]),
        ]
        for (arguments, fragments) in cases {
            let r = try MugsProcess.run(arguments)
            #expect(r.status == 1 || r.status == 64, "\(arguments): status \(r.status), \(r.error)")
            for fragment in fragments {
                #expect(r.error.contains(fragment), "\(arguments): stderr was \(r.error)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.safetensors"))
    }
}
