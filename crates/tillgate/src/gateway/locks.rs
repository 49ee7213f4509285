//! Striped async locks: one PaymentIntent or Charge is changed by one task at a time, in bounded memory.
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

pub struct Locks {
    stripes: Vec<Mutex<()>>,
}

impl Default for Locks {
    fn default() -> Self {
        Locks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl Locks {
    /// Holds the lock of an object id until the guard drops. Two ids may share a stripe; that only
    /// serialises them, it never deadlocks as long as a task holds one guard at a time.
    pub async fn lock(&self, id: &str) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        self.stripes[(h.finish() as usize) % STRIPES].lock().await
    }
}
