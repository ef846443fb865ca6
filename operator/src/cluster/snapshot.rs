//! `vigil scan --cluster`: one read-only, paginated listing of every kind the engine reads, into the same
//! index the operator's watches keep: the registry's typed kinds, CRDs and the custom kinds they serve
//! (through discovery), and Vigil's own policies and exceptions. A kind Vigil may not list (403) makes the
//! checks that read it `Error`; a kind the server does not serve (404) is judged as empty; any other
//! failure, after retries, fails the scan: a partial view would give wrong answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, ObjectList};
use tracing::warn;
use vigil_crds::{ClusterSecurityException, SecurityException, SecurityPolicy};
use vigil_engine::input::object::VigilObject;
use vigil_engine::{Index, KubeObject};

use super::{Absence, EachKind, NamespaceFilter, TypedKind};

/// Objects per list request: the API server's own suggestion for clients that page.
const PAGE: u32 = 500;
/// Kinds listed at once.
const CONCURRENT_LISTS: usize = 4;
/// Attempts per list when the error is transient (timeouts, 429, 5xx, an expired continue token).
const ATTEMPTS: u32 = 3;

/// What one listing of a cluster found.
pub struct Snapshot {
    pub index: Index,
    /// Vigil's own policy objects, by kind (what `PolicyStore::reset` takes).
    pub policies: Vec<(&'static str, Vec<VigilObject>)>,
}

/// Counts for the progress line: kinds listed and objects seen so far.
#[derive(Default)]
pub struct Progress {
    pub kinds_done: AtomicUsize,
    pub kinds_total: AtomicUsize,
    pub objects: AtomicUsize,
}

impl Progress {
    pub fn line(&self) -> String {
        format!(
            "vigil: listing the cluster: {}/{} kinds, {} objects",
            self.kinds_done.load(Ordering::Relaxed),
            self.kinds_total.load(Ordering::Relaxed),
            self.objects.load(Ordering::Relaxed)
        )
    }
}

/// One kind's listing: the objects as the index stores them, or why there are none.
struct Listed {
    kind: String,
    result: Result<Vec<KubeObject>, kube::Error>,
}

/// Lists the cluster into an index, keeping what `filter` admits.
pub async fn take(client: &Client, filter: &NamespaceFilter, progress: Arc<Progress>) -> anyhow::Result<Snapshot> {
    let mut index = Index::new();
    let absorb = |index: &mut Index, done: Listed| -> anyhow::Result<()> {
        match done.result {
            Ok(objects) => {
                for object in objects.into_iter().filter(|o| filter.admits(o)) {
                    index.insert(object);
                }
                Ok(())
            }
            Err(error) => match Absence::of_error(&error, &done.kind) {
                Some(absence) => {
                    warn!(kind = done.kind, %error, "{}", absence.describe());
                    absence.record(index, &done.kind);
                    Ok(())
                }
                None => Err(anyhow::Error::new(error).context(format!("cannot list {}", done.kind))),
            },
        }
    };

    // The typed kinds and the CRDs first: the CRDs say which custom kinds to list next.
    let mut lists = Lists { client: client.clone(), progress: progress.clone(), futures: Vec::new() };
    super::for_each_typed_kind(&mut lists);
    lists.futures.push(list_crds(client.clone(), progress.clone()).boxed());
    let policies = list_policies(client, &progress);
    progress.kinds_total.fetch_add(lists.futures.len() + POLICY_KINDS, Ordering::Relaxed);
    let mut stream = futures::stream::iter(lists.futures).buffer_unordered(CONCURRENT_LISTS);
    while let Some(done) = stream.next().await {
        absorb(&mut index, done)?;
    }

    let mut custom = Vec::new();
    for crd in index.installed_crds.clone() {
        for source in super::installed_sources(&crd) {
            custom.push(list_custom(client.clone(), source.group, source.kind, progress.clone()).boxed());
        }
    }
    progress.kinds_total.fetch_add(custom.len(), Ordering::Relaxed);
    let mut stream = futures::stream::iter(custom).buffer_unordered(CONCURRENT_LISTS);
    while let Some(done) = stream.next().await {
        absorb(&mut index, done)?;
    }
    let policies = policies.await?;
    Ok(Snapshot { index, policies })
}

/// Collects one listing future per typed kind.
struct Lists {
    client: Client,
    progress: Arc<Progress>,
    futures: Vec<BoxFuture<'static, Listed>>,
}

impl EachKind for Lists {
    fn kind<K: TypedKind>(&mut self) {
        let api: Api<K> = Api::all(self.client.clone());
        let progress = self.progress.clone();
        self.futures.push(
            async move {
                let list = |params| {
                    let api = &api;
                    async move { api.list(&params).await }
                };
                let result = paginate(&progress, list, |o: K| Some(super::stored(o))).await;
                progress.kinds_done.fetch_add(1, Ordering::Relaxed);
                Listed { kind: K::kind(&()).to_string(), result }
            }
            .boxed(),
        );
    }
}

/// CRDs by metadata only: the names tell which custom kinds are installed.
async fn list_crds(client: Client, progress: Arc<Progress>) -> Listed {
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let list = |params| {
        let api = &api;
        async move { api.list_metadata(&params).await }
    };
    let result =
        paginate(&progress, list, |crd| super::crd_object(crd.metadata.name.as_deref().unwrap_or_default())).await;
    progress.kinds_done.fetch_add(1, Ordering::Relaxed);
    Listed { kind: "CustomResourceDefinition".into(), result }
}

/// One custom kind, at the version its group serves.
async fn list_custom(client: Client, group: &'static str, kind: &'static str, progress: Arc<Progress>) -> Listed {
    let result = async {
        let Some(resource) = super::discover(&client, group, kind).await? else {
            warn!(group, kind, "the CRD is installed but its group does not serve the kind; judged as empty");
            return Ok(Vec::new());
        };
        let api: Api<DynamicObject> = Api::all_with(client, &resource);
        let list = |params| {
            let api = &api;
            async move { api.list(&params).await }
        };
        paginate(&progress, list, |o| super::from_dynamic(&o, &resource.api_version, &resource.kind)).await
    }
    .await;
    progress.kinds_done.fetch_add(1, Ordering::Relaxed);
    Listed { kind: kind.to_string(), result }
}

const POLICY_KINDS: usize = 3;

/// Vigil's own SecurityPolicies and exceptions, by kind; a kind Vigil may not list or the server does not
/// serve (CRDs not installed) has none, as in the operator: the built-in default policy applies.
async fn list_policies(
    client: &Client,
    progress: &Arc<Progress>,
) -> anyhow::Result<Vec<(&'static str, Vec<VigilObject>)>> {
    async fn one<K>(client: &Client, progress: &Progress) -> anyhow::Result<(&'static str, Vec<VigilObject>)>
    where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Into<VigilObject>,
    {
        let kind: &'static str = match K::kind(&()).as_ref() {
            "SecurityPolicy" => "SecurityPolicy",
            "SecurityException" => "SecurityException",
            _ => "ClusterSecurityException",
        };
        let api: Api<K> = Api::all(client.clone());
        let list = |params| {
            let api = &api;
            async move { api.list(&params).await }
        };
        let result = paginate(progress, list, |o: K| Some(o.into())).await;
        progress.kinds_done.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(items) => Ok((kind, items)),
            Err(error) => match Absence::of_error(&error, kind) {
                Some(_) => {
                    warn!(kind, %error, "cannot list this kind; the built-in default policy and no exceptions apply");
                    Ok((kind, Vec::new()))
                }
                None => Err(anyhow::Error::new(error).context(format!("cannot list {kind}"))),
            },
        }
    }
    let (policies, exceptions, cluster_exceptions) = futures::try_join!(
        one::<SecurityPolicy>(client, progress),
        one::<SecurityException>(client, progress),
        one::<ClusterSecurityException>(client, progress),
    )?;
    Ok(vec![policies, exceptions, cluster_exceptions])
}

/// Every page of a list, each object converted as its page arrives (so only one page is ever held as the
/// server sent it, managedFields and all), retrying transient failures (an expired continue token starts
/// over).
async fn paginate<T, U, F, Fut>(
    progress: &Progress,
    mut page: F,
    mut convert: impl FnMut(T) -> Option<U>,
) -> Result<Vec<U>, kube::Error>
where
    T: Clone,
    F: FnMut(ListParams) -> Fut,
    Fut: std::future::Future<Output = Result<ObjectList<T>, kube::Error>>,
{
    let mut attempt = 1;
    'attempts: loop {
        let mut items = Vec::new();
        let mut params = ListParams::default().limit(PAGE);
        loop {
            match page(params.clone()).await {
                Ok(list) => {
                    progress.objects.fetch_add(list.items.len(), Ordering::Relaxed);
                    items.extend(list.items.into_iter().filter_map(&mut convert));
                    match list.metadata.continue_.filter(|token| !token.is_empty()) {
                        Some(token) => params = params.continue_token(&token),
                        None => return Ok(items),
                    }
                }
                Err(error) if attempt < ATTEMPTS && is_transient(&error) => {
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                    attempt += 1;
                    continue 'attempts;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// Worth another try: the server was busy or slow, or the continue token expired (410).
fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 410 | 429) || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// The API server's version for the version checks. `Ok(None)` when the server answers but not with a
/// version Vigil reads; an error when it cannot be reached.
pub async fn server_version(client: &Client) -> Result<Option<vigil_engine::ServerVersion>, kube::Error> {
    let info = client.apiserver_version().await?;
    Ok(vigil_engine::ServerVersion::parse(&info.git_version))
}

/// Fails with what the user can act on when the error says the cluster is out of reach.
pub fn unreachable(error: kube::Error, url: &str) -> anyhow::Error {
    anyhow::Error::new(error).context(format!("cannot reach the Kubernetes API server at {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_retried_and_absences_are_not() {
        // As the API server answers: a reason with the code.
        let status = |code: u16| {
            let reason = match code {
                403 => "Forbidden",
                404 => "NotFound",
                410 => "Expired",
                429 => "TooManyRequests",
                _ => "ServiceUnavailable",
            };
            let status = kube::core::Status { code, reason: reason.into(), message: "m".into(), ..Default::default() };
            kube::Error::Api(Box::new(status))
        };
        assert!(is_transient(&status(410)) && is_transient(&status(503)) && is_transient(&status(429)));
        assert!(!is_transient(&status(403)) && !is_transient(&status(404)));
        assert!(matches!(Absence::of_error(&status(403), "NetworkPolicy"), Some(Absence::Forbidden(_))));
        assert_eq!(Absence::of_error(&status(404), "ValidatingAdmissionPolicy"), Some(Absence::NotServed));
        // An unserved group answers plain text, not a Status: kube cannot parse it and keeps only the code.
        let plain = kube::core::Status {
            code: 404,
            reason: "Failed to parse error data".into(),
            message: "404 page not found".into(),
            ..Default::default()
        };
        let plain = kube::Error::Api(Box::new(plain));
        assert_eq!(Absence::of_error(&plain, "SecurityPolicy"), Some(Absence::NotServed));
        assert!(!is_transient(&plain));
    }
}
