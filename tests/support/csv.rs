//! An RFC 4180 reader for the reports' CSV files and attachments, independent of the
//! product's writer.

/// How records end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnds {
    /// CRLF after every record, the last one included (a file as written).
    Crlf,
    /// LF or CRLF (an attachment whose line ends were canonicalised on the way).
    Any,
}

/// The records of `text`, each a list of unquoted fields.
pub fn records(text: &str, ends: LineEnds) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if ends == LineEnds::Any => {}
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\n') if ends == LineEnds::Any => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\n') => panic!("a bare LF ends a record"),
            (false, c) => field.push(c),
        }
    }
    if ends == LineEnds::Crlf {
        assert!(
            record.is_empty() && field.is_empty(),
            "the last record ends with CRLF"
        );
    }
    records
}
