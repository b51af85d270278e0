import Foundation

/// Path of a committed fixture file (Tests/MugsModelTests/Fixtures, copied into the test bundle).
func fixturePath(_ name: String) -> String {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
        fatalError("fixture \(name) is not in the test bundle; regenerate with tools/make_vit_fixtures.py")
    }
    return url.path
}
