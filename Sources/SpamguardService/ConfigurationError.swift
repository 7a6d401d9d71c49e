/// A configuration problem, always naming the file and, where there is one, the key (`section.key`).
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var key: String?
    public var message: String

    public init(file: String, key: String? = nil, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { "\(file): \(key): \(message)" } else { "\(file): \(message)" }
    }
}
