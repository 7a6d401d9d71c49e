import Testing
@testable import MailText

private func message(_ parts: [[String]]) -> [String] {
    var lines = ["Subject: files", "Content-Type: multipart/mixed; boundary=x", ""]
    for part in parts { lines += ["--x"] + part }
    return lines + ["--x--"]
}

@Suite struct AttachmentTests {
    @Test func attachmentsAreNamedNotDecoded() {
        let text = extract(message([
            ["Content-Type: text/plain", "", "see attached"],
            ["Content-Type: application/octet-stream; name=\"a.exe\"", "Content-Transfer-Encoding: base64", "",
             "U0VDUkVUIFBBWUxPQUQ="],
            ["Content-Type: text/plain", "Content-Disposition: attachment; filename=notes.txt", "", "attached text"],
            ["Content-Type: image/gif", "", "GIF89a"],
        ]))
        #expect(text.body == "see attached")
        #expect(text.attachmentNames == ["a.exe", "notes.txt"])
        #expect(text.classificationText == "Subject: files\nAttachments: a.exe, notes.txt\n\nsee attached")
    }

    @Test func rfc2231FileNames() {
        let text = extract(message([
            ["Content-Type: application/pdf", "Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve%20plan.pdf", "", "x"],
            ["Content-Type: application/zip", "Content-Disposition: attachment;",
             " filename*0*=iso-8859-1''caf%E9;", " filename*1=\"-menu\";", " filename*2*=%2Ezip", "", "x"],
            ["Content-Type: application/zip", "Content-Disposition: attachment;",
             " filename*0=\"long \"; filename*1=\"name 100%.zip\"", "", "x"],
        ]))
        #expect(text.attachmentNames == ["naïve plan.pdf", "café-menu.zip", "long name 100%.zip"])
    }

    @Test func encodedWordFileNames() {
        let text = extract(message([
            ["Content-Type: application/msword; name=\"=?utf-8?B?0J/RgNC40LLQtdGCLmRvYw==?=\"", "", "x"],
            ["Content-Type: application/pdf", "Content-Disposition: attachment;", "\tfilename=\"=?iso-8859-1?Q?r=E9sum=E9?=.pdf\"", "", "x"],
        ]))
        #expect(text.attachmentNames == ["Привет.doc", "résumé.pdf"])
    }

    @Test func dispositionNameWinsOverTypeName() {
        let text = extract(message([
            ["Content-Type: application/octet-stream; name=type.bin", "Content-Disposition: attachment; filename=\"disp.bin\"", "", "x"],
        ]))
        #expect(text.attachmentNames == ["disp.bin"])
    }

    @Test func attachedMessageIsAnAttachmentWhenDispositionSaysSo() {
        let text = extract(message([
            ["Content-Type: message/rfc822", "Content-Disposition: attachment; filename=\"fwd.eml\"", "",
             "Subject: inner", "", "inner body"],
        ]))
        #expect(text.body == "")
        #expect(text.attachmentNames == ["fwd.eml"])
    }

    @Test func wholeMessageCanBeAnAttachment() {
        let text = extract(["Subject: s", "Content-Type: application/x-msdownload; name=setup.exe", "Content-Transfer-Encoding: base64", "", "TVqQAAMAAAAEAAAA"])
        #expect(text.body == "")
        #expect(text.attachmentNames == ["setup.exe"])
    }
}
