//! What can fail in the controller, one variant per pipeline step that talks to the API server. Each
//! says which step it belongs to ([`Error::step`]): the `step` label of `vigil_api_errors_total`, so a
//! dashboard tells a write failure from a Lease failure without reading logs.

/// A failed API call, by pipeline step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// write: applying or deleting a report.
    #[error("cannot write report {report}: {source}")]
    WriteReport {
        report: String,
        #[source]
        source: kube::Error,
    },
    /// status: a SecurityPolicy's or exception's status.
    #[error("cannot write the status of {kind} {name}: {source}")]
    WriteStatus {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// alert: an Event about a check that starts failing or recovers.
    #[error("cannot publish an Event: {0}")]
    PublishEvent(#[source] kube::Error),
    /// lease: reading, renewing or releasing the Lease.
    #[error("cannot read, renew or release the Lease: {0}")]
    Lease(#[source] kube::Error),
}

impl Error {
    /// The pipeline step, as the metric label says it.
    pub fn step(&self) -> &'static str {
        match self {
            Error::WriteReport { .. } => "write",
            Error::WriteStatus { .. } => "status",
            Error::PublishEvent(_) => "event",
            Error::Lease(_) => "lease",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_has_its_own_label_and_message() {
        let api = || kube::Error::Api(Box::new(kube::core::Status::failure("nope", "Forbidden").with_code(403)));
        let errors = [
            Error::WriteReport { report: "shop/pod-web".into(), source: api() },
            Error::WriteStatus { kind: "SecurityPolicy", name: "p".into(), source: api() },
            Error::PublishEvent(api()),
            Error::Lease(api()),
        ];
        let steps: std::collections::BTreeSet<&str> = errors.iter().map(Error::step).collect();
        assert_eq!(steps.len(), errors.len());
        assert!(errors[0].to_string().contains("shop/pod-web"), "{}", errors[0]);
    }
}
