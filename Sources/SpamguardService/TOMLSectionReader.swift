import TOMLKit

/// Reads typed values out of one `[section]` of a TOML document, with a default for every key, and
/// remembers which keys it read so that unknown (misspelt) keys can be refused instead of ignored.
struct TOMLSectionReader {
    let file: String
    let section: String
    private let table: TOMLTable?
    private var read: Set<String> = []

    init(document: TOMLTable, section: String, file: String) throws(ConfigurationError) {
        self.file = file
        self.section = section
        guard let value = document[section] else {
            self.table = nil
            return
        }
        guard let table = value.table else {
            throw ConfigurationError(file: file, key: section, "must be a table ([\(section)]), found \(value.type)")
        }
        self.table = table
    }

    private func error(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, key: "\(section).\(key)", message)
    }

    private mutating func value(_ key: String) -> (any TOMLValueConvertible)? {
        read.insert(key)
        return table?[key]
    }

    mutating func string(_ key: String, default fallback: String) throws(ConfigurationError) -> String {
        guard let value = value(key) else { return fallback }
        guard let string = value.string else { throw error(key, "expected a string, found \(value.type)") }
        return string
    }

    mutating func bool(_ key: String, default fallback: Bool) throws(ConfigurationError) -> Bool {
        guard let value = value(key) else { return fallback }
        guard let bool = value.bool else { throw error(key, "expected true or false, found \(value.type)") }
        return bool
    }

    mutating func int(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let value = value(key) else { return fallback }
        guard let int = value.int else { throw error(key, "expected an integer, found \(value.type)") }
        guard range.contains(int) else {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), found \(int)")
        }
        return int
    }

    /// A number; integers are accepted too (`reject_at = 2` is as good as `2.0`).
    mutating func number(_ key: String, default fallback: Double, atLeast minimum: Double) throws(ConfigurationError) -> Double {
        guard let value = value(key) else { return fallback }
        let number: Double
        if let double = value.double {
            number = double
        } else if let int = value.int {
            number = Double(int)
        } else {
            throw error(key, "expected a number, found \(value.type)")
        }
        guard number.isFinite, number >= minimum else { throw error(key, "must be a number ≥ \(minimum), found \(number)") }
        return number
    }

    mutating func number(_ key: String, default fallback: Double, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        let number = try number(key, default: fallback, atLeast: range.lowerBound)
        guard number <= range.upperBound else { throw error(key, "must be a number from \(range.lowerBound) to \(range.upperBound), found \(number)") }
        return number
    }

    mutating func strings(_ key: String, default fallback: [String]) throws(ConfigurationError) -> [String] {
        guard let value = value(key) else { return fallback }
        guard let array = value.array else { throw error(key, "expected an array of strings, found \(value.type)") }
        var strings: [String] = []
        for element in array {
            guard let string = element.string else {
                throw error(key, "expected an array of strings, found an element of type \(element.type)")
            }
            strings.append(string)
        }
        return strings
    }

    /// Refuses keys this reader never asked for: a typo must not silently fall back to a default.
    func rejectUnknownKeys() throws(ConfigurationError) {
        guard let table else { return }
        for key in table.keys.sorted() where !read.contains(key) {
            throw error(key, "unknown key (known keys in [\(section)]: \(read.sorted().joined(separator: ", ")))")
        }
    }
}
