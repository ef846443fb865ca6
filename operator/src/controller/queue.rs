//! The work queue: a set of subject keys (a key queued twice is evaluated once), drained in debounced
//! batches.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;
use vigil_engine::subject::SubjectKey;

#[derive(Default)]
pub struct Queue {
    pending: Mutex<BTreeSet<SubjectKey>>,
    notify: Notify,
}

impl Queue {
    pub fn push(&self, key: SubjectKey) {
        self.pending.lock().expect("queue lock").insert(key);
        self.notify.notify_one();
    }

    pub fn extend(&self, keys: impl IntoIterator<Item = SubjectKey>) {
        let mut pending = self.pending.lock().expect("queue lock");
        let before = pending.len();
        pending.extend(keys);
        if pending.len() != before {
            self.notify.notify_one();
        }
    }

    /// Waits until something is queued.
    pub async fn ready(&self) {
        if !self.pending.lock().expect("queue lock").is_empty() {
            return;
        }
        self.notify.notified().await;
    }

    /// Takes everything queued.
    pub fn drain(&self) -> Vec<SubjectKey> {
        std::mem::take(&mut *self.pending.lock().expect("queue lock")).into_iter().collect()
    }

    pub fn len(&self) -> usize {
        self.pending.lock().expect("queue lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_queued_twice_is_drained_once() {
        let queue = Queue::default();
        queue.push(SubjectKey::new("Deployment", "a", "web"));
        queue.extend([SubjectKey::new("Deployment", "a", "web"), SubjectKey::cluster()]);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.drain().len(), 2);
        assert_eq!(queue.len(), 0);
    }
}
