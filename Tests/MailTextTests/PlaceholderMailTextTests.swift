import Testing
@testable import MailText
