import Foundation
@testable import MugsData

/// Loads `Fixtures/fixtures.json` (written by tools/make_data_fixtures.py) and its raw files.
struct Fixtures {
    struct Case {
        var op: String
        var image: String
        var params: [String: Any]
        var file: String
        var shape: [Int]
        var kind: String
        func double(_ k: String) -> Double { (params[k] as? NSNumber)?.doubleValue ?? .nan }
        func int(_ k: String) -> Int { (params[k] as? NSNumber)?.intValue ?? -1 }
        func string(_ k: String) -> String { params[k] as? String ?? "" }
    }

    let directory: URL
    let images: [String: RGBImage]
    let cases: [Case]

    static let shared: Fixtures = {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let json = try! JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("fixtures.json")))
            as! [String: Any]
        var images: [String: RGBImage] = [:]
        for (name, v) in json["images"] as! [String: [String: Any]] {
            let bytes = [UInt8](try! Data(contentsOf: dir.appendingPathComponent(v["file"] as! String)))
            images[name] = RGBImage(width: v["width"] as! Int, height: v["height"] as! Int, bytes: bytes)
        }
        let cases = (json["cases"] as! [[String: Any]]).map {
            Case(op: $0["op"] as! String, image: $0["image"] as! String, params: $0["params"] as! [String: Any],
                 file: $0["file"] as! String, shape: $0["shape"] as! [Int], kind: $0["kind"] as! String)
        }
        return Fixtures(directory: dir, images: images, cases: cases)
    }()

    func cases(_ op: String) -> [Case] { cases.filter { $0.op == op } }

    func bytes(_ c: Case) -> [UInt8] { [UInt8](try! Data(contentsOf: directory.appendingPathComponent(c.file))) }

    func floats(_ c: Case) -> [Float] {
        let d = try! Data(contentsOf: directory.appendingPathComponent(c.file))
        return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// A fresh copy of a named input image.
    func image(_ name: String) -> RGBImage {
        let src = images[name]!
        let img = RGBImage()
        img.copy(from: src)
        return img
    }
}

/// Max |a − b| over uint8 images and how many values differ.
func compare(_ got: RGBImage, _ want: [UInt8]) -> (maxDiff: Int, differing: Int) {
    precondition(got.byteCount == want.count, "size \(got.byteCount) vs \(want.count)")
    var m = 0, n = 0
    for i in 0 ..< want.count {
        let d = abs(Int(got.pixels[i]) - Int(want[i]))
        if d > 0 { n += 1; m = max(m, d) }
    }
    return (m, n)
}
