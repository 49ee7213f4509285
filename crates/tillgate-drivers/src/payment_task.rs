//! A payment that runs in a task of its own (ZVT, Caisse-AP): its outcome on a watch channel, the
//! future the reader's actor awaits, and the task that `Terminal::relinquish` (or the actor's lease
//! watchdog, through `Terminal::payment_task`) aborts — its connection to the terminal closing with it.

use std::future::Future;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::{DriverError, PaymentFuture, PaymentOutcome, Recovery};

/// The payment begun last by this process, until a cancel or `relinquish` collects it.
pub(crate) struct PaymentTask {
    /// The payment's reference (its PaymentIntent).
    pub(crate) reference: String,
    /// `None` while it runs; its outcome once it ended.
    pub(crate) outcome: watch::Receiver<Option<PaymentOutcome>>,
    task: AbortHandle,
}

impl PaymentTask {
    /// Spawns `run` for the payment `reference`; `run` publishes the outcome on the sender it is
    /// given. The returned future resolves with that outcome. A task that ends without one (aborted
    /// at the lease deadline, or panicked) leaves it pending: the outcome is unknown to this
    /// process, and whoever drives the reader next settles it from the terminal.
    pub(crate) fn spawn<F>(
        reference: String,
        run: impl FnOnce(watch::Sender<Option<PaymentOutcome>>) -> F,
    ) -> (PaymentTask, PaymentFuture)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (tx, outcome) = watch::channel(None);
        let task = tokio::spawn(run(tx)).abort_handle();
        let mut rx = outcome.clone();
        let awaited = async move {
            match rx.wait_for(Option::is_some).await.map(|o| o.clone()) {
                Ok(Some(outcome)) => outcome,
                _ => std::future::pending().await,
            }
        }
        .boxed();
        let running = PaymentTask {
            reference,
            outcome,
            task,
        };
        (running, awaited)
    }

    /// Whether it is still under way (no outcome yet).
    pub(crate) fn running(&self) -> bool {
        self.outcome.borrow().is_none()
    }

    /// Its outcome for `Terminal::recover`: known once it ended, busy while it runs.
    pub(crate) fn recovery(&self) -> Result<Recovery, DriverError> {
        match self.outcome.borrow().clone() {
            Some(outcome) => Ok(Recovery::Known(outcome)),
            None => Err(DriverError::Busy("the payment is still running".into())),
        }
    }

    /// The task, for the lease watchdog.
    pub(crate) fn task(&self) -> AbortHandle {
        self.task.clone()
    }

    /// Ends the task now: nothing more reaches the terminal from it.
    pub(crate) fn abort(self) {
        self.task.abort();
    }
}
