//! Minimal XML writer over a byte sink. The same code either writes or only
//! counts, which is what makes [`super::XmlSizer`] exact by construction.

use super::element::El;

/// Where encoded bytes go.
pub(crate) trait Sink {
    fn put(&mut self, s: &str);
}

impl Sink for Vec<u8> {
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
}

/// Counts bytes instead of storing them.
#[derive(Default)]
pub(crate) struct Counter(pub usize);

impl Sink for Counter {
    fn put(&mut self, s: &str) {
        self.0 += s.len();
    }
}

pub(crate) const NS_METINF: &str = "syncml:metinf";
pub(crate) const NS_DEVINF: &str = "syncml:devinf";

pub(crate) struct Writer<'a, S: Sink> {
    out: &'a mut S,
}

impl<'a, S: Sink> Writer<'a, S> {
    pub fn new(out: &'a mut S) -> Self {
        Writer { out }
    }

    pub fn raw(&mut self, s: &str) {
        self.out.put(s);
    }

    pub fn start(&mut self, el: El) {
        self.raw("<");
        self.raw(el.name());
        self.raw(">");
    }

    /// Start tag with a default namespace declaration, as libsynthesis puts
    /// it on every element whose namespace differs from its parent's.
    pub fn start_ns(&mut self, el: El, ns: &str) {
        self.raw("<");
        self.raw(el.name());
        self.raw(" xmlns=\"");
        self.raw(ns);
        self.raw("\">");
    }

    pub fn end(&mut self, el: El) {
        self.raw("</");
        self.raw(el.name());
        self.raw(">");
    }

    /// Start tag by name, for unsupported commands kept by name only.
    pub fn start_named(&mut self, name: &str) {
        self.raw("<");
        self.raw(name);
        self.raw(">");
    }

    pub fn end_named(&mut self, name: &str) {
        self.raw("</");
        self.raw(name);
        self.raw(">");
    }

    /// `<X/>` when `on`; nothing otherwise.
    pub fn flag(&mut self, el: El, on: bool) {
        if on {
            self.raw("<");
            self.raw(el.name());
            self.raw("/>");
        }
    }

    pub fn leaf(&mut self, el: El, text: &str) {
        self.start(el);
        self.text(text);
        self.end(el);
    }

    pub fn leaf_opt(&mut self, el: El, text: Option<&str>) {
        if let Some(text) = text {
            self.leaf(el, text);
        }
    }

    pub fn leaf_num(&mut self, el: El, n: u64) {
        self.start(el);
        self.num(n);
        self.end(el);
    }

    pub fn leaf_num_opt(&mut self, el: El, n: Option<u64>) {
        if let Some(n) = n {
            self.leaf_num(el, n);
        }
    }

    /// A MetInf leaf: `<X xmlns="syncml:metinf">text</X>`.
    pub fn metinf_leaf(&mut self, el: El, text: &str) {
        self.start_ns(el, NS_METINF);
        self.text(text);
        self.end(el);
    }

    pub fn metinf_num(&mut self, el: El, n: u64) {
        self.start_ns(el, NS_METINF);
        self.num(n);
        self.end(el);
    }

    pub fn num(&mut self, n: u64) {
        // u64::MAX has 20 digits.
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = n;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // Only ASCII digits were written.
        if let Ok(s) = std::str::from_utf8(&buf[i..]) {
            self.raw(s);
        }
    }

    /// Escaped character data. `\r` is written as a reference because a
    /// conforming parser would turn a literal CR into LF.
    pub fn text(&mut self, text: &str) {
        let mut rest = text;
        while let Some(i) = rest.find(['&', '<', '>', '\r']) {
            self.raw(&rest[..i]);
            self.raw(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                _ => "&#13;",
            });
            rest = &rest[i + 1..];
        }
        self.raw(rest);
    }

    /// Item data: always CDATA (empty data as empty text). libsynthesis
    /// refuses (400) a large-object chunk whose data is not of the same
    /// PCDATA kind as the first chunk's, and a vCard's first chunk needs
    /// CDATA for its line breaks — so every item's data is CDATA, as
    /// SyncEvolution itself sends it. A `]]>` inside is split across two
    /// CDATA sections.
    pub fn data_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.raw("<![CDATA[");
        let mut rest = text;
        while let Some(i) = rest.find("]]>") {
            // End the section after "]]" and start a new one before ">".
            self.raw(&rest[..i + 2]);
            self.raw("]]><![CDATA[");
            rest = &rest[i + 2..];
        }
        self.raw(rest);
        self.raw("]]>");
    }
}
