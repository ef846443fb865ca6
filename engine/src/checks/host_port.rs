use super::prelude::*;

pub static CHECK: Check = Check {
    id: "host-port",
    risk: 6,
    category: CheckCategory::PodSecurity,
    source: Source::Ours,
    seed_item: "Each team should have PSP (Pod Security Policy) enabled",
    title: "Containers do not bind host ports",
    fails_when: "a container port sets a non-zero `hostPort`, or the pod has `hostNetwork: true`, where every container port's `hostPort` defaults to its `containerPort`",
    remediation: "Remove `hostPort` and expose the container through a Service.",
    rule: "Pod Security Standards baseline control Host Ports: `hostPort` unset or 0; in a `hostNetwork` pod the API server defaults each unset `hostPort` to its `containerPort`. Source: `staging/src/k8s.io/pod-security-admission/policy/check_hostPorts.go`; `pkg/apis/core/v1/defaults.go` SetDefaults_Pod (defaultHostNetworkPorts).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                // One message whether hostPort is set or defaulted from hostNetwork: the API server stores the
                // pods with it filled in.
                let ports: Vec<String> =
                    c.host_ports().map(|(host, container)| format!("{host} (containerPort {container})")).collect();
                (!ports.is_empty()).then(|| {
                    Violation::container(c.name, format!("{} binds hostPort {}", c.describe(), ports.join(", ")))
                })
            })
            .collect(),
    )
}
