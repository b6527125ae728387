//! SyncML XML codec (quick-xml 0.42 reader, hand-written compact writer).
//!
//! * [`decode`] is tolerant: local names matched ASCII case-insensitively,
//!   namespaces and prefixes ignored, children in any order, unknown
//!   elements skipped; Item Data kept exactly (CDATA and escaped text alike).
//! * [`encode`] writes DTD order, `xmlns="syncml:metinf"` on every MetInf
//!   element, DevInf inline, Item Data as CDATA when it has markup
//!   characters or line breaks.
//! * [`XmlSizer`] counts what [`encode`] writes, using the same code.

mod decode;
mod decode_devinf;
mod element;
mod encode;
mod encode_devinf;
mod tokenizer;
mod writer;

#[cfg(test)]
mod tests;

pub use decode::decode;

use crate::protocol::{Command, SyncHdr, SyncMl};
use crate::wire::Sizer;
use writer::{Counter, Writer};

/// Encode a message as compact XML (UTF-8, with an XML declaration).
pub fn encode(msg: &SyncMl) -> Vec<u8> {
    let mut out = Vec::new();
    encode::message(&mut Writer::new(&mut out), msg);
    out
}

/// Byte sizes of [`encode`]'s output, computed by running the encoder into
/// a counter. Exact: `encode(m).len() == envelope_len(&m.header) +
/// Σ command_len(c)`, minus 8 (`<Final/>`) when `m.body.final_` is false.
#[derive(Debug, Clone, Copy, Default)]
pub struct XmlSizer;

impl Sizer for XmlSizer {
    fn command_len(&self, cmd: &Command) -> usize {
        let mut n = Counter::default();
        encode::command(&mut Writer::new(&mut n), cmd);
        n.0
    }

    fn envelope_len(&self, hdr: &SyncHdr) -> usize {
        let mut n = Counter::default();
        let mut w = Writer::new(&mut n);
        encode::envelope_start(&mut w, hdr);
        encode::envelope_end(&mut w, true);
        n.0
    }
}
