import Atomics
import CMilter
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libmilter's C callbacks, translated to `MessageFilter` calls.
///
/// libmilter takes plain C function pointers and no context argument, so the callbacks reach the filter
/// through `MilterBridge.registry`: a set-once reference, written by `install(_:)` before `smfi_main` starts
/// and only read afterwards. It is the daemon's one piece of global state, and it exists only because of
/// that C interface. Per-connection state is a `MilterSession`, retained in libmilter's context with
/// `smfi_setpriv` at connect and released at close.
public enum MilterBridge {
    /// The filter the C callbacks serve. Set once.
    static let registry = ManagedAtomicLazyReference<Installed>()

    final class Installed: Sendable {
        let filter: MessageFilter
        let logger: Logger
        init(filter: MessageFilter, logger: Logger) {
            self.filter = filter
            self.logger = logger
        }
    }

    /// Actions we may take at end-of-message; requested in negotiation and declared at registration.
    static let actions = UInt(SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE)
    /// Protocol steps we do not need (the MTA should not send them).
    static let unusedSteps = UInt(SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NODATA | SMFIP_NOUNKNOWN)
    /// Replies we do not send: one per header field makes the MTA wait for a round trip per field, and Debian's
    /// libmilter (built with its pool of workers) hands a session back to its poll thread whenever the next
    /// command is not there within 1 ms, so each round trip may be a hand-over between threads, and a session
    /// handed back waits for a free worker — behind workers blocked at end-of-message. A header never changes
    /// our decision, so the MTA may stream them.
    static let unansweredSteps = UInt(SMFIP_NR_HDR)

    /// Installs the filter for the C callbacks. May be called once per process.
    static func install(_ filter: MessageFilter, logger: Logger) {
        let installed = Installed(filter: filter, logger: logger)
        let stored = registry.storeIfNilThenLoad(installed)
        precondition(stored === installed, "MilterBridge.install called twice")
    }

    private static var installed: Installed {
        guard let installed = registry.load() else { fatalError("libmilter callback before MilterBridge.install") }
        return installed
    }

    /// Registers the callbacks with libmilter (`smfi_register`).
    static func register(name: String) -> Bool {
        let cName = strdup(name)  // libmilter copies it; freed below
        defer { free(cName) }
        var description = smfiDesc()
        description.xxfi_name = cName
        description.xxfi_version = SMFI_VERSION
        description.xxfi_flags = actions
        description.xxfi_negotiate = negotiate
        description.xxfi_connect = connect
        description.xxfi_envfrom = envelopeFrom
        description.xxfi_header = header
        description.xxfi_eoh = endOfHeaders
        description.xxfi_body = body
        description.xxfi_eom = endOfMessage
        description.xxfi_abort = abort
        description.xxfi_close = close
        return smfi_register(description) == MI_SUCCESS
    }

    // MARK: - Per-connection state in libmilter's context

    private static func session(_ context: OpaquePointer?) -> MilterSession? {
        guard let pointer = smfi_getpriv(context) else { return nil }
        return Unmanaged<MilterSession>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// The connection's session; created here if the MTA skipped negotiate and connect.
    private static func sessionCreatingIfNeeded(_ context: OpaquePointer?) -> MilterSession {
        if let session = session(context) { return session }
        let session = installed.filter.openSession(client: nil, clientName: "unknown")
        _ = smfi_setpriv(context, Unmanaged.passRetained(session).toOpaque())
        return session
    }

    private static func release(_ context: OpaquePointer?) {
        guard let pointer = smfi_getpriv(context) else { return }
        _ = smfi_setpriv(context, nil)
        Unmanaged<MilterSession>.fromOpaque(pointer).release()
    }

    private static func macro(_ context: OpaquePointer?, _ name: String) -> String? {
        let value = name.withCString { smfi_getsymval(context, UnsafeMutablePointer(mutating: $0)) }
        return value.map { String(cString: $0) }
    }

    private static func status(_ decision: FilterDecision, session: MilterSession) -> sfsistat {
        switch decision {
        case .continue: SMFIS_CONTINUE
        case .accept: SMFIS_ACCEPT
        case .skipBody: session.canSkipBody ? SMFIS_SKIP : SMFIS_CONTINUE
        }
    }

    // MARK: - Callbacks

    private static let negotiate: @convention(c) (
        OpaquePointer?, UInt, UInt, UInt, UInt,
        UnsafeMutablePointer<UInt>?, UnsafeMutablePointer<UInt>?, UnsafeMutablePointer<UInt>?, UnsafeMutablePointer<UInt>?
    ) -> sfsistat = { context, offeredActions, offeredSteps, _, _, actions, steps, reserved2, reserved3 in
        let session = sessionCreatingIfNeeded(context)
        session.canSkipBody = offeredSteps & UInt(SMFIP_SKIP) != 0
        session.headersUnanswered = offeredSteps & unansweredSteps != 0
        let missing = MilterBridge.actions & ~offeredActions
        if missing != 0 {
            installed.logger.warning("the MTA does not offer all milter actions we use (missing flags \(missing)); those edits will fail")
        }
        actions?.pointee = MilterBridge.actions & offeredActions
        steps?.pointee = (unusedSteps | unansweredSteps | UInt(SMFIP_SKIP)) & offeredSteps
        reserved2?.pointee = 0
        reserved3?.pointee = 0
        return SMFIS_CONTINUE
    }

    private static let connect: @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<sockaddr>?
    ) -> sfsistat = { context, hostname, address in
        let client = address.flatMap { IPAddress(socketAddress: $0) }
        let name = hostname.map { String(cString: $0) } ?? "unknown"
        let (session, decision) = installed.filter.connect(client: client, clientName: name)
        if let previous = MilterBridge.session(context) {
            session.canSkipBody = previous.canSkipBody
            session.headersUnanswered = previous.headersUnanswered
            release(context)
        }
        _ = smfi_setpriv(context, Unmanaged.passRetained(session).toOpaque())
        return status(decision, session: session)
    }

    private static let envelopeFrom: @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> sfsistat = { context, _ in
        let session = sessionCreatingIfNeeded(context)
        let decision = installed.filter.mailFrom(
            session, authenticatedAs: macro(context, "{auth_authen}"), queueID: macro(context, "i")
        )
        return status(decision, session: session)
    }

    private static let header: @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<CChar>?
    ) -> sfsistat = { context, name, value in
        let session = sessionCreatingIfNeeded(context)
        guard let name else { return SMFIS_CONTINUE }
        let bytes = value.map { pointer in Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer))) } ?? []
        let decision = installed.filter.header(session, name: String(cString: name), value: bytes)
        return session.headersUnanswered ? SMFIS_NOREPLY : status(decision, session: session)
    }

    private static let endOfHeaders: @convention(c) (OpaquePointer?) -> sfsistat = { context in
        let session = sessionCreatingIfNeeded(context)
        return status(installed.filter.endOfHeaders(session), session: session)
    }

    private static let body: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, Int) -> sfsistat = {
        context, bytes, count in
        let session = sessionCreatingIfNeeded(context)
        let chunk = UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : count)
        return status(installed.filter.body(session, chunk), session: session)
    }

    private static let endOfMessage: @convention(c) (OpaquePointer?) -> sfsistat = { context in
        let session = sessionCreatingIfNeeded(context)
        let outcome = installed.filter.endOfMessage(session, queueID: macro(context, "i"))
        return apply(outcome, to: context)
    }

    private static let abort: @convention(c) (OpaquePointer?) -> sfsistat = { context in
        if let session = session(context) { installed.filter.abort(session) }
        return SMFIS_CONTINUE
    }

    private static let close: @convention(c) (OpaquePointer?) -> sfsistat = { context in
        release(context)
        installed.filter.connectionClosed()
        return SMFIS_CONTINUE
    }

    // MARK: - End-of-message actions

    private static func apply(_ outcome: MessageOutcome, to context: OpaquePointer?) -> sfsistat {
        let logger = installed.logger
        for edit in outcome.edits {
            let result: Int32
            switch edit {
            case .add(let name, let value):
                result = withCStrings(name, Array(value.utf8)) { smfi_addheader(context, $0, $1) }
            case .change(let name, let index, let value):
                result = withCStrings(name, value) { smfi_chgheader(context, $0, Int32(index), $1) }
            case .delete(let name, let index):
                result = name.withCString { smfi_chgheader(context, UnsafeMutablePointer(mutating: $0), Int32(index), nil) }
            }
            if result != MI_SUCCESS { logger.warning("the MTA refused a header edit: \(edit)") }
        }
        if let reason = outcome.quarantineReason {
            let result = reason.withCString { smfi_quarantine(context, UnsafeMutablePointer(mutating: $0)) }
            if result != MI_SUCCESS { logger.warning("the MTA refused to quarantine the message") }
        }
        switch outcome.reply {
        case .accept:
            return SMFIS_CONTINUE
        case .reject(let text):
            setReply(context, code: "550", status: "5.7.1", text: text)
            return SMFIS_REJECT
        case .tempfail(let text):
            setReply(context, code: "451", status: "4.7.1", text: text)
            return SMFIS_TEMPFAIL
        }
    }

    private static func setReply(_ context: OpaquePointer?, code: String, status: String, text: String) {
        let result = withCStrings(code, Array(status.utf8)) { code, status in
            text.withCString { smfi_setreply(context, code, status, UnsafeMutablePointer(mutating: $0)) }
        }
        if result != MI_SUCCESS { installed.logger.warning("smfi_setreply(\(code), \(status)) failed") }
    }

    /// A NUL-terminated copy of `name` and of the bytes of `value` (which must not contain NUL).
    private static func withCStrings<R>(
        _ name: String, _ value: [UInt8],
        _ body: (UnsafeMutablePointer<CChar>, UnsafeMutablePointer<CChar>) -> R
    ) -> R {
        var name = Array(name.utf8CString)
        var value = value.filter { $0 != 0 }.map { CChar(bitPattern: $0) } + [0]
        return name.withUnsafeMutableBufferPointer { name in
            value.withUnsafeMutableBufferPointer { value in body(name.baseAddress!, value.baseAddress!) }
        }
    }
}
