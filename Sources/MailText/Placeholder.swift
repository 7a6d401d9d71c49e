public enum MailTextPlaceholder {}
