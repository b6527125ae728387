//! The vCard model and its codec (2.1, 3.0, 4.0).
//!
//! The model keeps every property, group and parameter in the order they
//! came, with values *decoded*: transfer encodings (QUOTED-PRINTABLE,
//! BASE64/b, `data:` URIs) and charsets are undone on the way in and redone
//! by the writer for the target version, so the same [`Card`] can be written
//! as any version. The parameters that only describe the transfer encoding
//! (`ENCODING`, `CHARSET`) are therefore not kept; everything else is.
//! docs/vcard.md has the full list of rules.

mod lines;
mod parse;
mod text;
mod write;

pub use write::write;

use crate::contacts::error::VCardError;

/// A vCard version we read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VCardVersion {
    V21,
    V30,
    V40,
}

impl VCardVersion {
    /// The VERSION property value.
    pub fn as_str(self) -> &'static str {
        match self {
            VCardVersion::V21 => "2.1",
            VCardVersion::V30 => "3.0",
            VCardVersion::V40 => "4.0",
        }
    }

    /// The MIME type SyncML uses for this version (`Meta/Type`).
    pub fn content_type(self) -> &'static str {
        match self {
            VCardVersion::V21 => "text/x-vcard",
            VCardVersion::V30 | VCardVersion::V40 => "text/vcard",
        }
    }

    /// From a VERSION value; unknown values read as 3.0, the SyncML default.
    pub fn from_version_value(v: &str) -> VCardVersion {
        match v.trim() {
            "2.1" | "2.0" | "1.0" => VCardVersion::V21,
            "4.0" => VCardVersion::V40,
            _ => VCardVersion::V30,
        }
    }
}

/// A property parameter: upper-cased name and its values in order.
///
/// vCard 2.1 bare type words (`TEL;CELL;HOME`) read as one `TYPE` parameter
/// each; `TYPE=work,voice` reads as one parameter with two values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: String,
    pub values: Vec<String>,
}

impl Param {
    pub fn new(name: &str, values: &[&str]) -> Param {
        Param {
            name: name.to_ascii_uppercase(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }
}

/// A decoded property value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// Text split into `;`-separated components, each a `,`-separated list
    /// of items, all unescaped. A plain text value is `[[text]]`. Newlines
    /// are `\n`.
    Text(Vec<Vec<String>>),
    /// Inline binary data (PHOTO, LOGO, SOUND, KEY). Its format is in the
    /// property's `TYPE` parameter, as in 2.1 and 3.0 (`TYPE=JPEG`).
    Binary(Vec<u8>),
}

impl Value {
    /// A single text item.
    pub fn text(s: &str) -> Value {
        Value::Text(vec![vec![s.to_owned()]])
    }

    /// Structured text from components (each one item).
    pub fn components(parts: &[&str]) -> Value {
        Value::Text(parts.iter().map(|p| vec![(*p).to_owned()]).collect())
    }

    /// Is there nothing in it (all items empty, or no bytes)?
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Text(c) => c.iter().flatten().all(|i| i.trim().is_empty()),
            Value::Binary(b) => b.is_empty(),
        }
    }
}

/// One content line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Property {
    /// `item1` in `item1.TEL`.
    pub group: Option<String>,
    /// Upper-cased name (`TEL`, `X-ABLABEL`…). Names are case-insensitive.
    pub name: String,
    pub params: Vec<Param>,
    pub value: Value,
}

impl Property {
    pub fn new(name: &str, value: Value) -> Property {
        Property {
            group: None,
            name: name.to_ascii_uppercase(),
            params: Vec::new(),
            value,
        }
    }

    pub fn with_param(mut self, name: &str, values: &[&str]) -> Property {
        self.params.push(Param::new(name, values));
        self
    }

    /// All values of the parameters called `name` (upper case).
    pub fn param_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |p| p.name == name)
            .flat_map(|p| p.values.iter().map(String::as_str))
    }

    /// Has a TYPE value `t` (case-insensitive)?
    pub fn has_type(&self, t: &str) -> bool {
        self.param_values("TYPE").any(|v| v.eq_ignore_ascii_case(t))
    }

    /// The text as written in a plain value: components joined by `;`,
    /// items by `,`. Empty for binary values.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.view().value.push_text(&self.name, &mut out);
        out
    }

    /// Component `i` with its items joined by `,` (empty if absent).
    pub fn component(&self, i: usize) -> String {
        match &self.value {
            Value::Text(c) => c.get(i).map(|items| items.join(",")).unwrap_or_default(),
            Value::Binary(_) => String::new(),
        }
    }
}

/// A property as content comparison reads it: from a parsed [`Card`]
/// ([`Property::view`]), or straight from a card's text
/// ([`for_each_line`]), where the value is left unsplit.
pub struct LineView<'a> {
    pub name: &'a str,
    pub params: ParamsView<'a>,
    pub value: ValueView<'a>,
}

/// A property's parameters: a parsed card's, or as read from text
/// (borrowed from the card's header where possible).
pub struct ParamsView<'a>(ParamsOf<'a>);

enum ParamsOf<'a> {
    Parsed(&'a [Param]),
    Read(&'a [parse::RawParam<'a>]),
}

impl ParamsView<'_> {
    /// Call `f` with each parameter's name and values, in order.
    pub fn for_each(&self, mut f: impl FnMut(&str, &mut dyn Iterator<Item = &str>)) {
        match self.0 {
            ParamsOf::Parsed(ps) => {
                for p in ps {
                    f(&p.name, &mut p.values.iter().map(String::as_str));
                }
            }
            ParamsOf::Read(ps) => {
                for p in ps {
                    f(&p.name, &mut p.values());
                }
            }
        }
    }
}

pub enum ValueView<'a> {
    Binary(&'a [u8]),
    /// Components of items, as in [`Value::Text`].
    Split(&'a [Vec<String>]),
    /// The value's text still escaped, as written in `version`.
    Escaped(&'a str, VCardVersion),
}

impl ValueView<'_> {
    /// Append the text [`Property::text`] gives (components joined by `;`,
    /// items by `,`; nothing for binary); whether the value holds anything
    /// (not [`Value::is_empty`]).
    pub fn push_text(&self, name: &str, out: &mut String) -> bool {
        match self {
            ValueView::Binary(b) => !b.is_empty(),
            ValueView::Split(comps) => {
                let mut content = false;
                text::join_with(comps, out, |item, out| {
                    content = content || !item.trim().is_empty();
                    out.push_str(item);
                });
                content
            }
            ValueView::Escaped(s, version) => text::unescape_joined(s, *version, name, out),
        }
    }
}

impl Property {
    pub fn view(&self) -> LineView<'_> {
        LineView {
            name: &self.name,
            params: ParamsView(ParamsOf::Parsed(&self.params)),
            value: match &self.value {
                Value::Binary(b) => ValueView::Binary(b),
                Value::Text(c) => ValueView::Split(c),
            },
        }
    }
}

/// Every property of a card's text, in order, as [`Card::parse`] would
/// read it but without building the card: values are decoded but not
/// split. Fails where `Card::parse` fails.
pub fn for_each_line(data: &str, f: &mut dyn FnMut(LineView<'_>)) -> Result<(), VCardError> {
    parse::for_each_line(data.as_bytes(), &mut |l, version| {
        let value = match &l.value {
            parse::RawValue::Binary(b) => ValueView::Binary(b),
            parse::RawValue::Escaped(s) => ValueView::Escaped(s, version),
        };
        f(LineView {
            name: &l.name,
            params: ParamsView(ParamsOf::Read(&l.params)),
            value,
        })
    })
    .map(|_| ())
}

/// A vCard: its source version and its properties in order (without
/// BEGIN, VERSION and END, which the writer supplies).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Card {
    pub version: VCardVersion,
    pub props: Vec<Property>,
}

impl Card {
    pub fn new(version: VCardVersion) -> Card {
        Card {
            version,
            props: Vec::new(),
        }
    }

    /// Parse one vCard from text (the engine's stored item data).
    pub fn parse(data: &str) -> Result<Card, VCardError> {
        parse::parse(data.as_bytes())
    }

    /// Parse one vCard from raw bytes, which may hold non-UTF-8 values
    /// (vCard 2.1 `CHARSET=ISO-8859-1`, `GBK`… in 8-bit form).
    pub fn parse_bytes(data: &[u8]) -> Result<Card, VCardError> {
        parse::parse(data)
    }

    /// Write as `version` (see [`write`]).
    pub fn to_string_as(&self, version: VCardVersion) -> String {
        write(self, version)
    }

    /// The properties called `name` (upper case).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }

    /// The first property called `name` (upper case).
    pub fn first(&self, name: &str) -> Option<&Property> {
        self.props.iter().find(|p| p.name == name)
    }
}
