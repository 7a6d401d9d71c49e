import Testing
@testable import GPT
