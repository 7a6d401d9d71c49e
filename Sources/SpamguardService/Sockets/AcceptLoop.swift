import Atomics
import Logging

/// Accepts connections until the calling task is cancelled and serves each in a child task of its own,
/// at most `maxConnections` at once (more are closed at once). Returns when every child has finished; the
/// children see the cancellation too.
func acceptConnections(
    on listener: ListeningSocket, maxConnections: Int, logger: Logger,
    serve: @escaping @Sendable (StreamConnection) async -> Void
) async {
    let open = ManagedAtomic(0)
    await withDiscardingTaskGroup { group in
        while !Task.isCancelled {
            let connection: StreamConnection
            do {
                connection = try await listener.accept()
            } catch is CancellationError {
                break
            } catch is SocketReactor.Stopped {
                break
            } catch {
                // Out of descriptors or memory: say so, breathe, go on. Cancellation ends the pause early.
                logger.error("\(listener.name): accept failed: \(error)")
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            guard open.loadThenWrappingIncrement(ordering: .relaxed) < maxConnections else {
                open.wrappingDecrement(ordering: .relaxed)
                logger.warning("\(listener.name): more than \(maxConnections) connections at once; closing the newest")
                connection.close()
                continue
            }
            group.addTask {
                defer { open.wrappingDecrement(ordering: .relaxed) }
                await serve(connection)
                connection.close()
            }
        }
    }
}
