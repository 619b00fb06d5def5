//! The lexer: text to tokens, each with its 1-based line and column.

use super::LangError;

/// Longest string literal or name, in bytes.
const WORD_MAX: usize = 64;

/// A position in the text: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn error(self, message: impl Into<String>) -> LangError {
        LangError {
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Int(i64),
    Str(String),
    /// A bare word: a keyword or an enum value.
    Name(String),
    /// `:name:`
    Feature(String),
    /// `@name`
    List(String),
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Open,
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
    /// Byte offsets of the token in the text.
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// Whether the token is the keyword `word` (case-insensitive).
    pub fn is(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Name(n) if n.eq_ignore_ascii_case(word))
    }
}

/// A cursor over the text that keeps the line and column.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
    pos: Pos,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.text[self.at..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    /// Takes characters while `f` holds; returns them.
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &str {
        let start = self.at;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.text[start..self.at]
    }
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `text` into tokens; at most `tokens_max` of them.
pub fn lex(text: &str, tokens_max: usize) -> Result<Vec<Token>, LangError> {
    let mut c = Cursor {
        text,
        at: 0,
        pos: Pos { line: 1, col: 1 },
    };
    let mut out = Vec::new();
    loop {
        skip_blanks(&mut c);
        let (pos, start) = (c.pos, c.at);
        let Some(first) = c.peek() else {
            return Ok(out);
        };
        if out.len() >= tokens_max {
            return Err(pos.error(format!("too many tokens (at most {tokens_max})")));
        }
        let tok = token(&mut c, first)?;
        out.push(Token {
            tok,
            pos,
            start,
            end: c.at,
        });
    }
}

fn skip_blanks(c: &mut Cursor<'_>) {
    loop {
        match c.peek() {
            Some(ch) if ch.is_whitespace() => {
                c.bump();
            }
            Some('#') => {
                c.take_while(|ch| ch != '\n');
            }
            _ => return,
        }
    }
}

fn token(c: &mut Cursor<'_>, first: char) -> Result<Tok, LangError> {
    let pos = c.pos;
    let two = |c: &mut Cursor<'_>, one: Tok, with_eq: Tok| {
        c.bump();
        if c.peek() == Some('=') {
            c.bump();
            with_eq
        } else {
            one
        }
    };
    let tok = match first {
        '(' | ')' => {
            c.bump();
            if first == '(' { Tok::Open } else { Tok::Close }
        }
        '<' => two(c, Tok::Lt, Tok::Le),
        '>' => two(c, Tok::Gt, Tok::Ge),
        '=' => two(c, Tok::Eq, Tok::Eq),
        '!' if c.peek2() == Some('=') => two(c, Tok::Ne, Tok::Ne),
        ':' => feature(c)?,
        '@' => {
            c.bump();
            Tok::List(word(c, pos, "a list name after '@'")?)
        }
        '\'' | '"' => string(c, first)?,
        '-' if c.peek2().is_some_and(|d| d.is_ascii_digit()) => {
            c.bump();
            Tok::Int(integer(c, pos, true)?)
        }
        '0'..='9' => Tok::Int(integer(c, pos, false)?),
        ch if ch.is_ascii_alphabetic() || ch == '_' => Tok::Name(word(c, pos, "a name")?),
        ch => return Err(pos.error(format!("unexpected character {ch:?}"))),
    };
    Ok(tok)
}

fn word(c: &mut Cursor<'_>, pos: Pos, what: &str) -> Result<String, LangError> {
    let w = c.take_while(word_char);
    if w.is_empty() {
        return Err(pos.error(format!("expected {what}")));
    }
    if w.len() > WORD_MAX {
        return Err(pos.error(format!("name longer than {WORD_MAX} bytes")));
    }
    Ok(w.to_string())
}

fn feature(c: &mut Cursor<'_>) -> Result<Tok, LangError> {
    let pos = c.pos;
    c.bump();
    let name = word(c, pos, "a feature name after ':' (as in :amount:)")?;
    if c.peek() != Some(':') {
        return Err(pos.error(format!("feature :{name}: is missing its closing ':'")));
    }
    c.bump();
    Ok(Tok::Feature(name))
}

fn string(c: &mut Cursor<'_>, quote: char) -> Result<Tok, LangError> {
    let pos = c.pos;
    c.bump();
    let s = c.take_while(|ch| ch != quote && ch != '\n').to_string();
    if c.bump() != Some(quote) {
        return Err(pos.error("string not closed on its line"));
    }
    if s.len() > WORD_MAX {
        return Err(pos.error(format!("string longer than {WORD_MAX} bytes")));
    }
    Ok(Tok::Str(s))
}

fn integer(c: &mut Cursor<'_>, pos: Pos, negative: bool) -> Result<i64, LangError> {
    let digits = c.take_while(|ch| ch.is_ascii_digit() || ch == '_');
    let mut v: i64 = 0;
    for d in digits.bytes().filter(|b| *b != b'_') {
        let d = i64::from(d - b'0');
        let next = v.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(d)
            } else {
                v.checked_add(d)
            }
        });
        v = next.ok_or_else(|| pos.error("integer out of range (a 64-bit signed integer)"))?;
    }
    if c.peek().is_some_and(word_char) {
        return Err(c.pos.error("a number must not run into letters"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s, 256).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_positions() {
        let t = lex("block if :amount: >= 10_000 # big\n or :ip: in @block", 64).unwrap();
        assert_eq!(t[2].tok, Tok::Feature("amount".into()));
        assert_eq!(t[2].pos, Pos { line: 1, col: 10 });
        assert_eq!(t[3].tok, Tok::Ge);
        assert_eq!(t[4].tok, Tok::Int(10_000));
        assert_eq!(t[5].pos, Pos { line: 2, col: 2 });
        assert_eq!(t[8].tok, Tok::List("block".into()));
    }

    #[test]
    fn operators_and_literals() {
        assert_eq!(
            toks("= == != < <= > >= -5 'CN' \"x\" ( )"),
            vec![
                Tok::Eq,
                Tok::Eq,
                Tok::Ne,
                Tok::Lt,
                Tok::Le,
                Tok::Gt,
                Tok::Ge,
                Tok::Int(-5),
                Tok::Str("CN".into()),
                Tok::Str("x".into()),
                Tok::Open,
                Tok::Close
            ]
        );
    }

    #[test]
    fn errors_carry_their_position() {
        let e = lex("block if\n  :amount > 5", 64).unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
        let e = lex("x ~", 64).unwrap_err();
        assert_eq!((e.line, e.col), (1, 3));
        let e = lex("99999999999999999999", 64).unwrap_err();
        assert_eq!((e.line, e.col), (1, 1));
        assert!(lex("a b c", 2).is_err());
        assert_eq!(toks("-9223372036854775808"), vec![Tok::Int(i64::MIN)]);
    }
}
