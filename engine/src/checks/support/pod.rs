//! Containers of a pod spec seen one way (regular, init, ephemeral), and Kubernetes' own defaulting and
//! precedence rules for them.

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EphemeralContainer, PodSecurityContext, PodSpec, ResourceRequirements,
    SecurityContext, VolumeMount,
};

use crate::subject::Workload;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Container,
    Init,
    Ephemeral,
}

/// One container of a pod spec, whatever list it is in.
#[derive(Clone, Debug)]
pub struct ContainerView<'a> {
    pub name: &'a str,
    pub kind: ContainerKind,
    pub image: Option<&'a str>,
    pub image_pull_policy: Option<&'a str>,
    pub security_context: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
    pub env: &'a [EnvVar],
    pub resources: Option<&'a ResourceRequirements>,
    pub volume_mounts: &'a [VolumeMount],
    /// Set when the container is not in the template but was found in a live pod (a sidecar injected by
    /// an admission webhook): the pod's name.
    pub injected_in: Option<&'a str>,
}

impl<'a> ContainerView<'a> {
    fn regular(c: &'a Container, kind: ContainerKind) -> Self {
        ContainerView {
            name: &c.name,
            kind,
            image: c.image.as_deref(),
            image_pull_policy: c.image_pull_policy.as_deref(),
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
            env: c.env.as_deref().unwrap_or(&[]),
            resources: c.resources.as_ref(),
            volume_mounts: c.volume_mounts.as_deref().unwrap_or(&[]),
            injected_in: None,
        }
    }

    fn ephemeral(c: &'a EphemeralContainer) -> Self {
        ContainerView {
            name: &c.name,
            kind: ContainerKind::Ephemeral,
            image: c.image.as_deref(),
            image_pull_policy: c.image_pull_policy.as_deref(),
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
            env: c.env.as_deref().unwrap_or(&[]),
            resources: c.resources.as_ref(),
            volume_mounts: c.volume_mounts.as_deref().unwrap_or(&[]),
            injected_in: None,
        }
    }

    /// `container "app"`, `init container "setup"`, ... with a note for injected sidecars.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            ContainerKind::Container => "container",
            ContainerKind::Init => "init container",
            ContainerKind::Ephemeral => "ephemeral container",
        };
        match self.injected_in {
            Some(pod) => format!("{kind} \"{}\" (injected, seen in pod {pod})", self.name),
            None => format!("{kind} \"{}\"", self.name),
        }
    }

    /// The container's image, or `""` when unset.
    pub fn image(&self) -> &'a str {
        self.image.unwrap_or("")
    }
}

/// Every container of a pod spec: init containers, then containers, then ephemeral containers.
pub fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerView<'_>> {
    let init = spec.init_containers.iter().flatten().map(|c| ContainerView::regular(c, ContainerKind::Init));
    let main = spec.containers.iter().map(|c| ContainerView::regular(c, ContainerKind::Container));
    let eph = spec.ephemeral_containers.iter().flatten().map(ContainerView::ephemeral);
    init.chain(main).chain(eph)
}

impl<'a> Workload<'a> {
    /// The template's containers, then containers that only live pods have (injected sidecars), once each.
    pub fn containers(&self) -> Vec<ContainerView<'a>> {
        let mut out: Vec<ContainerView<'a>> = containers(self.spec).collect();
        for pod in &self.pods {
            let (Some(spec), Some(pod_name)) = (pod.spec.as_ref(), pod.metadata.name.as_deref()) else { continue };
            for mut c in containers(spec) {
                if !out.iter().any(|o| o.name == c.name && o.kind == c.kind) {
                    c.injected_in = Some(pod_name);
                    out.push(c);
                }
            }
        }
        out
    }

    pub fn pod_security_context(&self) -> Option<&'a PodSecurityContext> {
        self.spec.security_context.as_ref()
    }
}

/// The image's tag, if any (`None` for `nginx` and for digest-only `nginx@sha256:...`).
pub fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last_segment.split_once(':').map(|(_, tag)| tag)
}

/// True when the image is pinned by digest (`@sha256:...`).
pub fn image_has_digest(image: &str) -> bool {
    image.contains("@sha256:")
}

/// The registry host of an image reference; Docker Hub (`docker.io`) when none is given.
pub fn image_registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Kubernetes' default pull policy: `Always` for `:latest` or untagged images (unless pinned by digest),
/// otherwise `IfNotPresent`.
pub fn effective_pull_policy(c: &ContainerView) -> String {
    if let Some(p) = c.image_pull_policy.filter(|p| !p.is_empty()) {
        return p.to_string();
    }
    let image = c.image();
    match image_tag(image) {
        _ if image_has_digest(image) => "IfNotPresent".into(),
        None | Some("latest") => "Always".into(),
        Some(_) => "IfNotPresent".into(),
    }
}

/// A container-level setting with the pod-level one as fallback (container settings win).
pub fn container_or_pod<T: Clone>(
    c: &ContainerView,
    pod: Option<&PodSecurityContext>,
    from_container: impl Fn(&SecurityContext) -> Option<T>,
    from_pod: impl Fn(&PodSecurityContext) -> Option<T>,
) -> Option<T> {
    c.security_context.and_then(&from_container).or_else(|| pod.and_then(&from_pod))
}

impl<'a> ContainerView<'a> {
    /// `securityContext.capabilities.add`, empty when unset.
    pub fn added_capabilities(&self) -> &'a [String] {
        self.security_context.and_then(|s| s.capabilities.as_ref()).and_then(|c| c.add.as_deref()).unwrap_or(&[])
    }

    /// `securityContext.capabilities.drop`, empty when unset.
    pub fn dropped_capabilities(&self) -> &'a [String] {
        self.security_context.and_then(|s| s.capabilities.as_ref()).and_then(|c| c.drop.as_deref()).unwrap_or(&[])
    }
}

/// A capability name in one spelling, for comparing: upper case, without the `CAP_` prefix the kernel uses.
pub fn capability_name(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    match upper.strip_prefix("CAP_") {
        Some(name) => name.to_string(),
        None => upper,
    }
}

impl Workload<'_> {
    /// True when the pod spec declares `os.name: windows`, where the API server forbids Linux-only
    /// securityContext fields (seccomp, capabilities, readOnlyRootFilesystem, allowPrivilegeEscalation, ...).
    pub fn is_windows(&self) -> bool {
        self.spec.os.as_ref().is_some_and(|os| os.name == "windows")
    }
}
