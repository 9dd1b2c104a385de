//! The lexer: one statement at a time. A statement never spans lines; `;` outside strings and
//! comments separates statements on one line ([`statements`]).

use crate::error::{ErrorKind, ParseError};
use crate::span::Span;

/// A token of a policy line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_]*`, with inner `-` (`kill-thread`).
    Word(String),
    /// `@name`.
    Group(String),
    /// A non-negative literal (decimal, `0x`, `0o`, `0b`, `_` separators).
    Num(u64),
    /// `5.10` or `5.10.3`.
    Version(String),
    /// `"..."`.
    Str(String),
    /// Punctuation: `== != < <= > >= & | { } ( ) , -`.
    Punct(&'static str),
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("\"{w}\""),
            Tok::Group(g) => format!("\"@{g}\""),
            Tok::Num(n) => format!("number {n}"),
            Tok::Version(v) => format!("version {v}"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Punct(p) => format!("`{p}`"),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

/// A lexed line: its tokens, its trailing `#` comment, and the column just past its last character.
#[derive(Debug)]
pub(crate) struct Line {
    pub(crate) tokens: Vec<Token>,
    pub(crate) comment: Option<String>,
    pub(crate) end: Span,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// One statement's text in a line of policy text, and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece<'a> {
    /// 1-based line number.
    pub line: u32,
    /// 0-based column (in characters) of the piece's first character in its line.
    pub offset: usize,
    /// The statement's text, with the line's `# comment` on the line's last piece.
    pub text: &'a str,
}

/// Policy text split the way the parser reads it: at newlines, and each line at every `;` that
/// is outside a `"string"` and before the line's `#` comment (a comment runs to the end of the
/// line, `;` included). Empty pieces (`;;`, a trailing `;`) are kept: they hold no statement.
pub fn statements(source: &str) -> impl Iterator<Item = Piece<'_>> {
    source.split('\n').enumerate().flat_map(|(i, line)| {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut pieces = Vec::new();
        let (mut start_byte, mut start_col) = (0usize, 0usize);
        let mut in_string = false;
        for (col, (byte, c)) in line.char_indices().enumerate() {
            match c {
                '"' => in_string = !in_string,
                '#' if !in_string => break,
                ';' if !in_string => {
                    pieces.push(Piece {
                        line: line_no,
                        offset: start_col,
                        text: &line[start_byte..byte],
                    });
                    start_byte = byte + 1;
                    start_col = col + 1;
                }
                _ => {}
            }
        }
        pieces.push(Piece {
            line: line_no,
            offset: start_col,
            text: &line[start_byte..],
        });
        pieces
    })
}

/// Lexes one statement's text (without its newline); `offset` is its first character's 0-based
/// column in the line.
pub(crate) fn line(
    text: &str,
    line_no: u32,
    offset: usize,
    origin: &str,
) -> Result<Line, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut comment = None;
    let mut i = 0usize;
    let col = |i: usize| u32::try_from(i + offset + 1).unwrap_or(u32::MAX);
    let err = |i: usize, kind: ErrorKind| {
        ParseError::at(
            origin,
            Span {
                line: line_no,
                col: col(i),
            },
            kind,
        )
    };
    while i < chars.len() {
        let c = chars[i];
        let span = Span {
            line: line_no,
            col: col(i),
        };
        if c == ' ' || c == '\t' || c == '\r' {
            i += 1;
            continue;
        }
        if c == '#' {
            let rest: String = chars[i + 1..].iter().collect();
            let rest = rest.trim();
            if !rest.is_empty() {
                comment = Some(rest.to_string());
            }
            break;
        }
        if is_word_start(c) {
            let start = i;
            while i < chars.len()
                && (is_word_char(chars[i])
                    || (chars[i] == '-' && chars.get(i + 1).copied().is_some_and(is_word_char)))
            {
                i += 1;
            }
            tokens.push(Token {
                tok: Tok::Word(chars[start..i].iter().collect()),
                span,
            });
            continue;
        }
        if c == '@' {
            let start = i + 1;
            i += 1;
            while i < chars.len()
                && (is_word_char(chars[i])
                    || (chars[i] == '-' && chars.get(i + 1).copied().is_some_and(is_word_char)))
            {
                i += 1;
            }
            if i == start {
                return Err(err(
                    start - 1,
                    ErrorKind::Expected {
                        expected: "a group name after `@`".into(),
                        found: found_at(&chars, start),
                    },
                ));
            }
            tokens.push(Token {
                tok: Tok::Group(chars[start..i].iter().collect()),
                span,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if text.contains('.') {
                tokens.push(Token {
                    tok: Tok::Version(text),
                    span,
                });
            } else {
                let n = number(&text).map_err(|k| err(start, k))?;
                tokens.push(Token {
                    tok: Tok::Num(n),
                    span,
                });
            }
            continue;
        }
        if c == '"' {
            let start = i;
            i += 1;
            let s = i;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            if i >= chars.len() {
                return Err(err(start, ErrorKind::UnterminatedString));
            }
            tokens.push(Token {
                tok: Tok::Str(chars[s..i].iter().collect()),
                span,
            });
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (p, len): (&'static str, usize) = match (c, next) {
            ('=', Some('=')) => ("==", 2),
            ('!', Some('=')) => ("!=", 2),
            ('<', Some('=')) => ("<=", 2),
            ('>', Some('=')) => (">=", 2),
            ('<', _) => ("<", 1),
            ('>', _) => (">", 1),
            ('&', Some('&')) => {
                return Err(err(
                    i,
                    ErrorKind::Operator {
                        found: "&&",
                        use_: "and",
                    },
                ));
            }
            ('|', Some('|')) => {
                return Err(err(
                    i,
                    ErrorKind::Operator {
                        found: "||",
                        use_: "or",
                    },
                ));
            }
            ('&', _) => ("&", 1),
            ('|', _) => ("|", 1),
            ('{', _) => ("{", 1),
            ('}', _) => ("}", 1),
            ('(', _) => ("(", 1),
            (')', _) => (")", 1),
            (',', _) => (",", 1),
            ('-', _) => ("-", 1),
            ('=', _) => {
                return Err(err(
                    i,
                    ErrorKind::Operator {
                        found: "=",
                        use_: "==",
                    },
                ));
            }
            ('!', _) => {
                return Err(err(
                    i,
                    ErrorKind::Operator {
                        found: "!",
                        use_: "not",
                    },
                ));
            }
            _ => return Err(err(i, ErrorKind::UnexpectedChar(c))),
        };
        tokens.push(Token {
            tok: Tok::Punct(p),
            span,
        });
        i += len;
    }
    Ok(Line {
        tokens,
        comment,
        end: Span {
            line: line_no,
            col: col(chars.len()),
        },
    })
}

fn found_at(chars: &[char], i: usize) -> String {
    match chars.get(i) {
        Some(c) => format!("'{c}'"),
        None => "end of line".into(),
    }
}

/// Parses a literal: decimal, `0x` hex, `0o` octal, `0b` binary, `_` separators allowed.
fn number(text: &str) -> Result<u64, ErrorKind> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(ErrorKind::BadNumber(text.to_string()));
    }
    // Too many digits for u128 is also "too large".
    match u128::from_str_radix(digits, radix) {
        Ok(v) => u64::try_from(v).map_err(|_| ErrorKind::NumberTooLarge(text.to_string())),
        Err(_) => Err(ErrorKind::NumberTooLarge(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        line(s, 1, 0, "t")
            .unwrap()
            .tokens
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn words_numbers_and_punctuation() {
        assert_eq!(
            toks("kill-thread clone if flags & 0x1_0000 == -1 # why"),
            vec![
                Tok::Word("kill-thread".into()),
                Tok::Word("clone".into()),
                Tok::Word("if".into()),
                Tok::Word("flags".into()),
                Tok::Punct("&"),
                Tok::Num(0x10000),
                Tok::Punct("=="),
                Tok::Punct("-"),
                Tok::Num(1),
            ]
        );
        assert_eq!(
            line("deny x # why  ", 1, 0, "t")
                .unwrap()
                .comment
                .as_deref(),
            Some("why")
        );
        assert_eq!(
            toks("kernel 5.10"),
            vec![Tok::Word("kernel".into()), Tok::Version("5.10".into())]
        );
        assert_eq!(toks("@raw-io"), vec![Tok::Group("raw-io".into())]);
    }

    fn pieces(s: &str) -> Vec<(u32, usize, &str)> {
        statements(s).map(|p| (p.line, p.offset, p.text)).collect()
    }

    #[test]
    fn semicolons_split_statements_outside_strings_and_comments() {
        assert_eq!(
            pieces("use container; deny mkdir\nallow x;"),
            vec![
                (1, 0, "use container"),
                (1, 14, " deny mkdir"),
                (2, 0, "allow x"),
                (2, 8, "")
            ]
        );
        assert_eq!(
            pieces("use \"a;b\"; fs read \"/x;y\" # why; not split"),
            vec![
                (1, 0, "use \"a;b\""),
                (1, 10, " fs read \"/x;y\" # why; not split")
            ]
        );
        // Columns count characters, not bytes.
        assert_eq!(pieces("# é;x"), vec![(1, 0, "# é;x")]);
        assert_eq!(pieces("deny é;x"), vec![(1, 0, "deny é"), (1, 7, "x")]);
        // An unterminated string keeps the rest of the line (the lexer reports it).
        assert_eq!(pieces("use \"a;b"), vec![(1, 0, "use \"a;b")]);
    }

    #[test]
    fn columns_count_from_the_line() {
        let l = line(" deny x", 1, 14, "t").unwrap();
        assert_eq!(l.tokens[0].span.col, 16);
        assert_eq!(l.end.col, 22);
    }

    #[test]
    fn numbers() {
        assert_eq!(number("0b101"), Ok(5));
        assert_eq!(number("0o17"), Ok(15));
        assert_eq!(number("18446744073709551615"), Ok(u64::MAX));
        assert!(matches!(
            number("18446744073709551616"),
            Err(ErrorKind::NumberTooLarge(_))
        ));
        assert!(matches!(
            number("0x1_0000_0000_0000_0000"),
            Err(ErrorKind::NumberTooLarge(_))
        ));
        assert!(matches!(number("12ab"), Err(ErrorKind::BadNumber(_))));
        assert!(matches!(number("0x"), Err(ErrorKind::BadNumber(_))));
    }
}
