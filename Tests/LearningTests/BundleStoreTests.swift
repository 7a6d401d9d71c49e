import DaemonTestSupport
import Foundation
import Testing
@testable import Learning

@Suite("BundleStore: versions, an atomic current link, rollback, recovery")
struct BundleStoreTests {
    /// A stand-in bundle: the store only needs manifest.json to call a bundle complete.
    func stage(_ store: BundleStore, _ version: String) throws -> String {
        let dir = try store.makeStagingDirectory()
        try write("tensors of \(version)", to: dir + "/classifier.safetensors")
        try write("{\"version\": \"\(version)\"}", to: dir + "/manifest.json")
        return dir
    }

    @Test func promotionSwitchesCurrentAndKeepsTheLastN() async throws {
        try await onThread { try self.promotionSwitchesCurrentAndKeepsTheLastNBody() }
    }

    func promotionSwitchesCurrentAndKeepsTheLastNBody() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let store = BundleStore(directory: dir + "/classifiers")
        #expect(store.currentVersion == nil)
        #expect(try store.promote(staged: stage(store, "20240101-000000-aaaa"), version: "20240101-000000-aaaa", keep: 2) == nil)
        #expect(store.currentVersion == "20240101-000000-aaaa")
        #expect(try store.promote(staged: stage(store, "20240102-000000-bbbb"), version: "20240102-000000-bbbb", keep: 2) == "20240101-000000-aaaa")
        try store.promote(staged: stage(store, "20240103-000000-cccc"), version: "20240103-000000-cccc", keep: 2)
        #expect(store.versions() == ["20240102-000000-bbbb", "20240103-000000-cccc"])
        #expect(store.currentDirectory == dir + "/classifiers/versions/20240103-000000-cccc")
        #expect(read(store.currentDirectory! + "/classifier.safetensors") == "tensors of 20240103-000000-cccc")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/classifiers/current") == "versions/20240103-000000-cccc")
        #expect(names(dir + "/classifiers/staging").isEmpty)
    }

    @Test func rollbackGoesToThePreviousVersionOrANamedOne() async throws {
        try await onThread { try self.rollbackGoesToThePreviousVersionOrANamedOneBody() }
    }

    func rollbackGoesToThePreviousVersionOrANamedOneBody() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let store = BundleStore(directory: dir)
        for v in ["20240101-000000-a", "20240102-000000-b", "20240103-000000-c"] {
            try store.promote(staged: stage(store, v), version: v, keep: 5)
        }
        #expect(try store.rollback(to: nil) == ("20240103-000000-c", "20240102-000000-b"))
        #expect(try store.rollback(to: nil) == ("20240102-000000-b", "20240101-000000-a"))
        #expect(throws: BundleStore.StoreError.nothingOlder(current: "20240101-000000-a")) { try store.rollback(to: nil) }
        #expect(try store.rollback(to: "20240103-000000-c").to == "20240103-000000-c")
        #expect(throws: BundleStore.StoreError.self) { try store.rollback(to: "nope") }
        // Pruning never removes the serving version, even when it is the oldest.
        _ = try store.rollback(to: "20240101-000000-a")
        try store.promote(staged: stage(store, "20240104-000000-d"), version: "20240104-000000-d", keep: 1)
        #expect(store.versions() == ["20240104-000000-d"])
        _ = try store.rollback(to: "20240104-000000-d")
        #expect(store.currentVersion == "20240104-000000-d")
    }

    @Test func recoveryRemovesHalfWrittenBundlesAndRepairsCurrent() async throws {
        try await onThread { try self.recoveryRemovesHalfWrittenBundlesAndRepairsCurrentBody() }
    }

    func recoveryRemovesHalfWrittenBundlesAndRepairsCurrentBody() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let store = BundleStore(directory: dir)
        try store.promote(staged: stage(store, "20240101-000000-a"), version: "20240101-000000-a", keep: 5)
        try store.promote(staged: stage(store, "20240102-000000-b"), version: "20240102-000000-b", keep: 5)
        // What a kill -9 can leave: a bundle half written in staging, a temporary link, a version without manifest.
        let half = try store.makeStagingDirectory()
        try write("partial", to: half + "/classifier.safetensors")
        symlink("versions/20240101-000000-a", dir + "/.current.deadbeef")
        try FileManager.default.createDirectory(atPath: dir + "/versions/20240103-000000-c", withIntermediateDirectories: true)
        var recovery = try store.recover()
        #expect(recovery.removedStaging.count == 1 && recovery.removedIncomplete == ["20240103-000000-c"])
        #expect(recovery.repointedTo == nil)
        #expect(store.currentVersion == "20240102-000000-b")
        #expect(names(dir).sorted() == ["current", "staging", "versions"].sorted() || names(dir).contains("current"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/.current.deadbeef"))

        // A current link naming a version that is gone points at the newest complete one.
        try FileManager.default.removeItem(atPath: dir + "/versions/20240102-000000-b")
        recovery = try store.recover()
        #expect(recovery.repointedTo == "20240101-000000-a")
        #expect(store.currentVersion == "20240101-000000-a")
    }

    @Test func refusedCandidatesAreKeptAside() async throws {
        try await onThread { try self.refusedCandidatesAreKeptAsideBody() }
    }

    func refusedCandidatesAreKeptAsideBody() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let store = BundleStore(directory: dir)
        for v in ["20240101-000000-a", "20240102-000000-b", "20240103-000000-c"] {
            try store.keepCandidate(staged: stage(store, v), version: v, keep: 2)
        }
        #expect(store.candidates() == ["20240102-000000-b", "20240103-000000-c"])
        #expect(store.versions().isEmpty && store.currentVersion == nil)
    }

    @Test func adoptingCopiesABundleWithoutServingIt() async throws {
        try await onThread { try self.adoptingCopiesABundleWithoutServingItBody() }
    }

    func adoptingCopiesABundleWithoutServingItBody() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        try write("weights", to: dir + "/trained/classifier.safetensors")
        try write("{}", to: dir + "/trained/manifest.json")
        let store = BundleStore(directory: dir + "/store")
        try store.adopt(bundle: dir + "/trained", version: "20240101-000000-a")
        #expect(store.versions() == ["20240101-000000-a"])
        #expect(read(store.directory(of: "20240101-000000-a") + "/classifier.safetensors") == "weights")
        #expect(store.currentVersion == nil)
        try store.adopt(bundle: dir + "/trained", version: "20240101-000000-a")
        #expect(store.versions() == ["20240101-000000-a"])
    }
}

@Suite("BundleStore: a promotion cut short between its renames")
struct InterruptedPromotionTests {
    @Test func withoutACurrentLinkNothingIsPromotedByRecovery() async throws {
        try await onThread { try self.withoutACurrentLinkNothingIsPromotedByRecoveryBody() }
    }

    func withoutACurrentLinkNothingIsPromotedByRecoveryBody() throws {
        let dir = try temporaryDirectory()
        defer { remove(dir) }
        let store = BundleStore(directory: dir)
        // The version was renamed into versions/, the link never made: the configured classifier still serves.
        let staged = try store.makeStagingDirectory(named: "run-1")
        try write("{}", to: staged + "/manifest.json")
        try FileManager.default.createDirectory(atPath: dir + "/versions", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: staged, toPath: dir + "/versions/20240101-000000-a")
        let recovery = try store.recover()
        #expect(recovery.repointedTo == nil)
        #expect(store.currentVersion == nil)
    }
}
