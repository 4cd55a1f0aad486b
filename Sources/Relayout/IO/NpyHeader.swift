/// The header of a `.npy` file: dtype, order and shape, parsed from and rendered to the Python
/// dictionary literal NumPy writes (`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`).
public struct NpyHeader: Equatable, Sendable {
    public var dtype: NpyDType
    public var fortranOrder: Bool
    public var shape: [Int]

    public init(dtype: NpyDType, fortranOrder: Bool, shape: [Int]) {
        self.dtype = dtype
        self.fortranOrder = fortranOrder
        self.shape = shape
    }

    /// Parses the dictionary text of a header.
    public init(parsing text: String) throws {
        var parser = PythonLiteralParser(text)
        guard case let .dictionary(entries) = try parser.parseValue() else {
            throw RelayoutError.io("npy header is not a dictionary: \(text.prefix(80))")
        }
        guard case let .string(descr)? = entries["descr"] else {
            throw RelayoutError.io("npy header lacks a string 'descr' (structured dtypes are not supported)")
        }
        guard case let .bool(fortran)? = entries["fortran_order"] else {
            throw RelayoutError.io("npy header lacks a boolean 'fortran_order'")
        }
        guard case let .tuple(items)? = entries["shape"] else {
            throw RelayoutError.io("npy header lacks a tuple 'shape'")
        }
        var shape = [Int]()
        for item in items {
            guard case let .integer(n) = item, n >= 0 else { throw RelayoutError.io("npy shape has a bad size: \(items)") }
            shape.append(n)
        }
        self.init(dtype: try NpyDType(descr: descr), fortranOrder: fortran, shape: shape)
    }

    /// The dictionary text, without padding.
    public var text: String {
        let dims = shape.map(String.init).joined(separator: ", ")
        let tuple = shape.count == 1 ? "(\(dims),)" : "(\(dims))"
        return "{'descr': '\(dtype.descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(tuple), }"
    }
}

/// The few Python literals that appear in `.npy` headers.
enum PythonLiteral: Equatable {
    case string(String), integer(Int), bool(Bool), tuple([PythonLiteral]), list([PythonLiteral])
    case dictionary([String: PythonLiteral])
}

struct PythonLiteralParser {
    private let characters: [Character]
    private var position = 0

    init(_ text: String) { characters = Array(text) }

    private func fail(_ why: String) -> RelayoutError {
        RelayoutError.io("malformed npy header (\(why) at character \(position))")
    }

    private mutating func skipSpace() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    private mutating func expect(_ c: Character) throws {
        skipSpace()
        guard position < characters.count, characters[position] == c else { throw fail("expected '\(c)'") }
        position += 1
    }

    private mutating func peek() -> Character? {
        skipSpace()
        return position < characters.count ? characters[position] : nil
    }

    mutating func parseValue() throws -> PythonLiteral {
        guard let c = peek() else { throw fail("unexpected end") }
        switch c {
        case "{":
            position += 1
            var entries = [String: PythonLiteral]()
            while peek() != "}" {
                guard case let .string(key) = try parseValue() else { throw fail("dictionary key is not a string") }
                try expect(":")
                entries[key] = try parseValue()
                if peek() == "," { position += 1 } else { break }
            }
            try expect("}")
            return .dictionary(entries)
        case "(", "[":
            position += 1
            let close: Character = c == "(" ? ")" : "]"
            var items = [PythonLiteral]()
            while peek() != close {
                items.append(try parseValue())
                if peek() == "," { position += 1 } else { break }
            }
            try expect(close)
            return c == "(" ? .tuple(items) : .list(items)
        case "'", "\"":
            position += 1
            var s = ""
            while position < characters.count, characters[position] != c {
                s.append(characters[position]); position += 1
            }
            guard position < characters.count else { throw fail("unterminated string") }
            position += 1
            return .string(s)
        default:
            var word = ""
            while position < characters.count, characters[position].isLetter || characters[position].isNumber || characters[position] == "-" {
                word.append(characters[position]); position += 1
            }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            default:
                // Python 2 era files may write sizes as `3L`.
                let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
                guard let n = Int(digits) else { throw fail("unexpected '\(word.isEmpty ? String(c) : word)'") }
                return .integer(n)
            }
        }
    }
}
