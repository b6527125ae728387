//! Client role: the platform's own reads and writes of its address books
//! (local API, vdir folder). Every write goes through `engine::book` with a
//! local origin, so it travels to every peer on its next session, and under
//! the store's write lock, so it never interleaves with a sync step.
//!
//! ETags are the item's change sequence number: any write changes it.

use std::sync::Arc;

use crate::engine::EngineError;
use crate::engine::book::{self, Change};
use crate::store::schema::{self, BookId, ItemRecord};
use crate::store::{Store, StoreError, Txn};

/// Origin of changes made through the local API.
pub const ORIGIN_API: &str = "local:api";
/// Origin of changes read from the vdir folder.
pub const ORIGIN_VDIR: &str = "local:vdir";

/// Serialises writers of the local store: sync steps, API writes, vdir scans.
pub type WriteLock = Arc<tokio::sync::Mutex<()>>;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("no contact {0}")]
    NotFound(String),
    #[error("the contact changed (ETag {current}, expected {expected})")]
    PreconditionFailed { current: String, expected: String },
    #[error("not a vCard: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// One contact as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Contact {
    pub id: String,
    pub etag: String,
    pub content_type: String,
    pub vcard: String,
}

fn etag(rec: &ItemRecord) -> String {
    format!("\"{}\"", rec.seq)
}

fn contact(id: String, rec: ItemRecord) -> Contact {
    Contact {
        id,
        etag: etag(&rec),
        content_type: rec.content_type,
        vcard: rec.data,
    }
}

/// A local address book.
#[derive(Clone)]
pub struct LocalBook {
    pub store: Arc<dyn Store>,
    pub lock: WriteLock,
    pub book: BookId,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn check_vcard(data: &str) -> Result<(), LocalError> {
    if crate::contacts::is_vcard(data) {
        Ok(())
    } else {
        Err(LocalError::Invalid(
            "expected BEGIN:VCARD … END:VCARD".into(),
        ))
    }
}

fn check_etag(rec: &ItemRecord, if_match: Option<&str>) -> Result<(), LocalError> {
    match if_match {
        Some(m) if m.trim() != "*" && m.trim() != etag(rec) => {
            Err(LocalError::PreconditionFailed {
                current: etag(rec),
                expected: m.trim().to_owned(),
            })
        }
        _ => Ok(()),
    }
}

impl LocalBook {
    pub fn list(&self) -> Result<Vec<Contact>, LocalError> {
        Ok(
            schema::items_page(self.store.as_ref(), &self.book, "", usize::MAX)?
                .into_iter()
                .filter(|(_, r)| !r.deleted)
                .map(|(id, r)| contact(id, r))
                .collect(),
        )
    }

    pub fn get(&self, id: &str) -> Result<Contact, LocalError> {
        match schema::item(self.store.as_ref(), &self.book, id)? {
            Some(r) if !r.deleted => Ok(contact(id.to_owned(), r)),
            _ => Err(LocalError::NotFound(id.to_owned())),
        }
    }

    pub async fn create(&self, content_type: &str, data: &str) -> Result<Contact, LocalError> {
        check_vcard(data)?;
        let _guard = self.lock.lock().await;
        let mut t = Txn::new(self.store.as_ref());
        let change = Change {
            content_type,
            data,
            origin: ORIGIN_API,
            now_ms: now_ms(),
        };
        let id = book::create(&mut t, &self.book, &change)?;
        self.store.commit(&t.into_batch())?;
        self.get(&id)
    }

    pub async fn update(
        &self,
        id: &str,
        content_type: &str,
        data: &str,
        if_match: Option<&str>,
    ) -> Result<Contact, LocalError> {
        check_vcard(data)?;
        let _guard = self.lock.lock().await;
        let old = match schema::item(self.store.as_ref(), &self.book, id)? {
            Some(r) if !r.deleted => r,
            _ => return Err(LocalError::NotFound(id.to_owned())),
        };
        check_etag(&old, if_match)?;
        let mut t = Txn::new(self.store.as_ref());
        let change = Change {
            content_type,
            data,
            origin: ORIGIN_API,
            now_ms: now_ms(),
        };
        book::update(&mut t, &self.book, id, Some(&old), &change)?;
        self.store.commit(&t.into_batch())?;
        self.get(id)
    }

    pub async fn delete(&self, id: &str, if_match: Option<&str>) -> Result<(), LocalError> {
        let _guard = self.lock.lock().await;
        let old = match schema::item(self.store.as_ref(), &self.book, id)? {
            Some(r) if !r.deleted => r,
            _ => return Err(LocalError::NotFound(id.to_owned())),
        };
        check_etag(&old, if_match)?;
        let mut t = Txn::new(self.store.as_ref());
        book::delete(&mut t, &self.book, id, &old, ORIGIN_API, now_ms())?;
        self.store.commit(&t.into_batch())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn local() -> LocalBook {
        LocalBook {
            store: Arc::new(MemoryStore::new()),
            lock: WriteLock::default(),
            book: BookId {
                user: "local".into(),
                store: "contacts".into(),
            },
        }
    }

    const CARD: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n";

    #[tokio::test]
    async fn crud_with_etags() {
        let b = local();
        let c = b.create("text/vcard", CARD).await.unwrap();
        assert_eq!(b.list().unwrap(), vec![c.clone()]);
        let edited = CARD.replace("FN:A", "FN:B");
        let err = b
            .update(&c.id, "text/vcard", &edited, Some("\"999\""))
            .await
            .unwrap_err();
        assert!(matches!(err, LocalError::PreconditionFailed { .. }));
        let c2 = b
            .update(&c.id, "text/vcard", &edited, Some(&c.etag))
            .await
            .unwrap();
        assert_ne!(c2.etag, c.etag);
        assert!(matches!(
            b.delete(&c.id, Some(&c.etag)).await,
            Err(LocalError::PreconditionFailed { .. })
        ));
        b.delete(&c.id, Some(&c2.etag)).await.unwrap();
        assert!(matches!(b.get(&c.id), Err(LocalError::NotFound(_))));
        assert!(b.list().unwrap().is_empty());
        assert!(matches!(
            b.create("text/vcard", "nope").await,
            Err(LocalError::Invalid(_))
        ));
    }
}
