//! A typed tokenizer over `quick_xml::NsReader`: element names become [`El`],
//! text arrives already unescaped, and unknown subtrees can be skipped.
//!
//! Namespaces are deliberately ignored (peers differ in prefixes, case and
//! where they declare `xmlns`); the `NsReader` is still used so namespace
//! declarations are checked for well-formedness and bounded (quick-xml ≥ 0.41).

use std::borrow::Cow;

use quick_xml::NsReader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};

use super::element::El;
use crate::wire::DecodeError;

/// An element whose start tag has been read.
#[derive(Debug)]
pub(crate) struct Open {
    pub el: El,
    /// `<X/>`: there is no content and no end tag to read.
    pub empty: bool,
    /// The local name as written, kept only for unknown elements (needed to
    /// report unsupported commands by name).
    pub unknown_name: Option<String>,
}

impl Open {
    /// The name to report in errors and in `Command::Unsupported`.
    pub fn name(&self) -> &str {
        self.unknown_name.as_deref().unwrap_or(self.el.name())
    }
}

/// One piece of element content.
pub(crate) enum Content<'i> {
    /// Character data: text, CDATA or a resolved reference, in document
    /// order. Consecutive pieces belong together (quick-xml splits text
    /// around every `&...;`).
    Text(Cow<'i, str>),
    /// A child element's start.
    Child(Open),
}

pub(crate) struct Tokenizer<'i> {
    reader: NsReader<&'i [u8]>,
}

impl<'i> Tokenizer<'i> {
    pub fn new(input: &'i str) -> Self {
        let mut reader = NsReader::from_str(input);
        // Defaults matter here: no text trimming (it would eat spaces around
        // entity references), end-tag names checked.
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Tokenizer { reader }
    }

    fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    fn read(&mut self) -> Result<Event<'i>, DecodeError> {
        self.reader
            .read_event()
            .map_err(|e| DecodeError::Malformed {
                position: self.reader.error_position(),
                message: e.to_string(),
            })
    }

    /// Skip the prolog and return the root element's start.
    pub fn root(&mut self) -> Result<Open, DecodeError> {
        loop {
            match self.read()? {
                Event::Start(e) => return Ok(open(&e, false)),
                Event::Empty(e) => return Ok(open(&e, true)),
                Event::Text(t) if is_blank(&t) => {}
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(DecodeError::TextBeforeRoot {
                        position: self.position(),
                    });
                }
                // Old phones send a DOCTYPE; its internal subset is never
                // used (unknown entities are rejected later).
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
                Event::End(_) => {
                    return Err(DecodeError::Malformed {
                        position: self.position(),
                        message: "end tag before the root element".into(),
                    });
                }
                Event::Eof => {
                    return Err(DecodeError::UnexpectedEof {
                        inside: "document".into(),
                    });
                }
            }
        }
    }

    /// After the root's end tag: only whitespace, comments and PIs may follow.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        loop {
            match self.read()? {
                Event::Eof => return Ok(()),
                Event::Text(t) if is_blank(&t) => {}
                Event::Comment(_) | Event::PI(_) => {}
                _ => {
                    return Err(DecodeError::TrailingContent {
                        position: self.position(),
                    });
                }
            }
        }
    }

    /// The next piece of content of `parent`, or `None` at its end tag.
    /// Comments and processing instructions are dropped.
    pub fn next_content(&mut self, parent: &Open) -> Result<Option<Content<'i>>, DecodeError> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            return Ok(Some(match self.read()? {
                Event::Start(e) => Content::Child(open(&e, false)),
                Event::Empty(e) => Content::Child(open(&e, true)),
                Event::End(_) => return Ok(None),
                // Raw text, not `xml10_content()`: Data must keep CRLF as sent.
                Event::Text(t) => Content::Text(t.into_inner()),
                Event::CData(c) => Content::Text(c.into_inner()),
                Event::GeneralRef(r) => Content::Text(self.resolve(&r)?),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
                Event::Eof => {
                    return Err(DecodeError::UnexpectedEof {
                        inside: parent.name().to_owned(),
                    });
                }
            }));
        }
    }

    /// The next child element of `parent`, or `None` at its end tag. Text
    /// between children is ignored (element-only content).
    pub fn next_child(&mut self, parent: &Open) -> Result<Option<Open>, DecodeError> {
        while let Some(content) = self.next_content(parent)? {
            if let Content::Child(child) = content {
                return Ok(Some(child));
            }
        }
        Ok(None)
    }

    /// Consume `element`'s content and end tag, whatever it holds.
    /// Iterative, so deeply nested input cannot exhaust the stack.
    pub fn skip(&mut self, element: &Open) -> Result<(), DecodeError> {
        if element.empty {
            return Ok(());
        }
        let mut depth = 1usize;
        loop {
            match self.read()? {
                Event::Start(_) => depth += 1,
                Event::End(_) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Event::GeneralRef(r) => {
                    // Still reject undefined entities inside skipped content.
                    self.resolve(&r)?;
                }
                Event::Eof => {
                    return Err(DecodeError::UnexpectedEof {
                        inside: element.name().to_owned(),
                    });
                }
                _ => {}
            }
        }
    }

    /// All character data of `element`, exactly as sent (not trimmed).
    /// Child elements are skipped. Borrowed from the input when it came in
    /// one piece (no entity reference or CDATA section splits it), which
    /// is nearly always.
    pub fn text(&mut self, element: &Open) -> Result<Cow<'i, str>, DecodeError> {
        let mut text: Option<Cow<'i, str>> = None;
        while let Some(content) = self.next_content(element)? {
            match content {
                Content::Text(t) => match &mut text {
                    None => text = Some(t),
                    Some(acc) => acc.to_mut().push_str(&t),
                },
                Content::Child(child) => self.skip(&child)?,
            }
        }
        Ok(text.unwrap_or(Cow::Borrowed("")))
    }

    /// A simple value: character data with surrounding whitespace trimmed.
    pub fn value(&mut self, element: &Open) -> Result<String, DecodeError> {
        let text = self.text(element)?;
        let trimmed = text.trim();
        Ok(if trimmed.len() == text.len() {
            text.into_owned()
        } else {
            trimmed.to_owned()
        })
    }

    /// A numeric value; anything else is an error naming the element.
    /// Read without copying the text.
    pub fn number<N: std::str::FromStr>(&mut self, element: &Open) -> Result<N, DecodeError> {
        let text = self.text(element)?;
        let trimmed = text.trim();
        trimmed.parse().map_err(|_| DecodeError::BadNumber {
            element: element.el.name(),
            value: trimmed.to_owned(),
        })
    }

    /// An empty-element flag such as `<Final/>`: present means true,
    /// whatever content it has.
    pub fn flag(&mut self, element: &Open) -> Result<bool, DecodeError> {
        self.skip(element)?;
        Ok(true)
    }

    fn resolve(&self, r: &BytesRef<'_>) -> Result<Cow<'i, str>, DecodeError> {
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) => Ok(Cow::Owned(c.to_string())),
                Ok(None) => Err(self.unknown_entity(r)),
                Err(e) => Err(DecodeError::Malformed {
                    position: self.position(),
                    message: e.to_string(),
                }),
            };
        }
        resolve_xml_entity(r.as_ref())
            .map(Cow::Borrowed)
            .ok_or_else(|| self.unknown_entity(r))
    }

    fn unknown_entity(&self, r: &BytesRef<'_>) -> DecodeError {
        DecodeError::UnknownEntity {
            entity: AsRef::<str>::as_ref(r).to_owned(),
            position: self.position(),
        }
    }
}

fn open(start: &BytesStart<'_>, empty: bool) -> Open {
    let local = start.local_name();
    let el = El::from_local(local.as_ref());
    let unknown_name = (el == El::Unknown).then(|| local.as_ref().to_owned());
    Open {
        el,
        empty,
        unknown_name,
    }
}

fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_whitespace())
}
