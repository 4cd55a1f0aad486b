#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An array read from a `.npy` file: its dtype and a tensor over the file's bytes.
public struct NpyArray: Sendable {
    public let dtype: NpyDType
    public let tensor: RawTensor

    public init(dtype: NpyDType, tensor: RawTensor) throws {
        guard dtype.elementSize == tensor.elementSize else {
            throw RelayoutError.unsupportedElement("dtype \(dtype.rawValue) for \(tensor.elementSize)-byte elements")
        }
        self.dtype = dtype
        self.tensor = tensor
    }
}

/// Reads and writes NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
public enum NpyFile {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    static func systemError(_ what: String, _ path: String) -> RelayoutError {
        RelayoutError.io("\(what) '\(path)': \(String(cString: strerror(errno)))")
    }

    /// Memory-maps `path` (copy-on-write: writes through the tensor never reach the file) and views its
    /// data in C or Fortran order.
    public static func read(path: String) throws -> NpyArray {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw systemError("cannot open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw systemError("cannot stat", path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw RelayoutError.io("'\(path)' is not a regular file") }
        let fileSize = Int(info.st_size)
        guard fileSize >= 10 else { throw RelayoutError.io("'\(path)' is truncated: \(fileSize) bytes is too short for a .npy header") }
        guard let mapped = mmap(nil, fileSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw systemError("cannot map", path)
        }
        do {
            let (header, dataOffset) = try parseHeader(UnsafeRawBufferPointer(start: mapped, count: fileSize), path: path)
            let layout = header.fortranOrder ? try Layout.columnMajor(header.shape) : try Layout.rowMajor(header.shape)
            let elementSize = header.dtype.elementSize
            let (dataBytes, overflow) = layout.count.multipliedReportingOverflow(by: elementSize)
            guard !overflow, dataBytes <= fileSize - dataOffset else {
                throw RelayoutError.io("'\(path)' is truncated: shape \(header.shape) of \(header.dtype.rawValue) needs \(dataBytes) data bytes, the file has \(fileSize - dataOffset)")
            }
            let storage: Storage
            if dataOffset % elementSize == 0 {
                storage = Storage(mapping: mapped, mappingLength: fileSize, data: mapped + dataOffset, byteCount: dataBytes)
            } else {
                // A header length that misaligns the elements: copy once rather than load unaligned.
                storage = try Storage(byteCount: dataBytes)
                storage.baseAddress.copyMemory(from: mapped + dataOffset, byteCount: dataBytes)
                munmap(mapped, fileSize)
            }
            return try NpyArray(dtype: header.dtype, tensor: RawTensor(storage: storage, layout: layout, elementSize: elementSize))
        } catch {
            munmap(mapped, fileSize)
            throw error
        }
    }

    /// Parses the magic string, version, header length and header; returns the header and where the
    /// data starts.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> (NpyHeader, Int) {
        guard Array(bytes[0..<6]) == magic else { throw RelayoutError.io("'\(path)' is not a .npy file (bad magic string)") }
        let major = bytes[6]
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw RelayoutError.io("'\(path)' has unsupported .npy format version \(major).\(bytes[7])")
        }
        let start = 8 + lengthBytes
        guard bytes.count >= start else { throw RelayoutError.io("'\(path)' is truncated inside its header length") }
        var headerLength = 0
        for k in 0..<lengthBytes { headerLength |= Int(bytes[8 + k]) << (8 * k) }
        guard headerLength <= bytes.count - start else {
            throw RelayoutError.io("'\(path)' is truncated: header of \(headerLength) bytes, \(bytes.count - start) present")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[start ..< start + headerLength])
        // Versions 1 and 2 are Latin-1, version 3 is UTF-8; the keys and values we read are ASCII.
        let text = major == 3 ? String(decoding: headerBytes, as: UTF8.self) : String(headerBytes.map { Character(Unicode.Scalar($0)) })
        do {
            return (try NpyHeader(parsing: text), start + headerLength)
        } catch let error as RelayoutError {
            if case let .io(message) = error { throw RelayoutError.io("'\(path)': \(message)") }
            throw error
        }
    }

    /// The bytes that precede the data: magic, version, length and the padded header, a multiple of
    /// 64 bytes long as NumPy writes it.
    static func encodeHeader(_ header: NpyHeader) -> [UInt8] {
        var text = Array(header.text.utf8)
        let version: UInt8 = text.count + 1 + 10 < 65_536 ? 1 : 2
        let prefix = version == 1 ? 10 : 12
        let padding = (64 - (prefix + text.count + 1) % 64) % 64
        text += [UInt8](repeating: 0x20, count: padding)
        text.append(0x0A)
        var bytes = magic + [version, 0]
        for k in 0..<(version == 1 ? 2 : 4) { bytes.append(UInt8(truncatingIfNeeded: text.count >> (8 * k))) }
        return bytes + text
    }

    /// Writes `tensor` (made C-contiguous first if it is not) as a `.npy` file of `dtype`. The file is
    /// written under a temporary name in the same folder and renamed into place, so `path` either keeps
    /// its old content or gets the whole new one.
    public static func write(_ tensor: RawTensor, dtype: NpyDType, to path: String, threads: Int? = nil) throws {
        guard dtype.elementSize == tensor.elementSize else {
            throw RelayoutError.unsupportedElement("dtype \(dtype.rawValue) for \(tensor.elementSize)-byte elements")
        }
        let dense = try tensor.contiguous(threads: threads)
        let header = encodeHeader(NpyHeader(dtype: dtype, fortranOrder: false, shape: dense.shape))
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw systemError("cannot create", temporary) }
        do {
            try header.withUnsafeBytes { try writeAll(fd, $0, path: temporary) }
            let data = UnsafeRawBufferPointer(start: dense.originAddress, count: dense.count * dense.elementSize)
            try writeAll(fd, data, path: temporary)
            guard close(fd) == 0 else { throw systemError("cannot close", temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let failure = systemError("cannot rename into", path)
            unlink(temporary)
            throw failure
        }
    }

    static func temporaryPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(folder).\(name).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, Swift.min(bytes.count - done, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw systemError("cannot write", path)
            }
            done += n
        }
    }
}
