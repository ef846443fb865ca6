use super::prelude::*;

pub static CHECK: Check = Check {
    id: "unsafe-sysctls-procmount",
    risk: 6,
    category: CheckCategory::PodSecurity,
    source: Source::Ours,
    seed_item: "Each team should have PSP (Pod Security Policy) enabled",
    title: "Pods set only safe sysctls and keep /proc masked",
    fails_when: "the pod sets a sysctl outside the PSS safe set, or a container sets `procMount: Unmasked`",
    remediation: "Remove unsafe sysctls (tune them on the node instead) and remove `procMount: Unmasked`.",
    enabled_by_default: true,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

/// The sysctls the Pod Security Standards' baseline level allows.
const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    let mut violations = Vec::new();
    let sysctls = w.pod_security_context().and_then(|p| p.sysctls.as_deref()).unwrap_or(&[]);
    let unsafe_names: Vec<&str> =
        sysctls.iter().map(|s| s.name.as_str()).filter(|name| !SAFE_SYSCTLS.contains(&dotted(name).as_str())).collect();
    if !unsafe_names.is_empty() {
        violations
            .push(Violation::object(format!("pod securityContext.sysctls sets unsafe {}", unsafe_names.join(", "))));
    }
    for c in w.containers() {
        if c.security_context.and_then(|s| s.proc_mount.as_deref()) == Some("Unmasked") {
            violations.push(Violation::container(
                c.name,
                format!("{} sets securityContext.procMount: Unmasked", c.describe()),
            ));
        }
    }
    Outcome::from_violations(violations)
}

/// A sysctl name in its dotted form. Kubernetes accepts `/` as the separator too, in which case a `.` is part
/// of a name segment (`net/ipv4/conf/eth0.100/rp_filter` is `net.ipv4.conf.eth0/100.rp_filter`).
fn dotted(name: &str) -> String {
    if !name.contains('/') {
        return name.to_string();
    }
    name.chars()
        .map(|ch| match ch {
            '/' => '.',
            '.' => '/',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::dotted;

    #[test]
    fn slash_separated_names_are_dotted() {
        assert_eq!(dotted("kernel.shm_rmid_forced"), "kernel.shm_rmid_forced");
        assert_eq!(dotted("kernel/shm_rmid_forced"), "kernel.shm_rmid_forced");
        assert_eq!(dotted("net/ipv4/conf/eth0.100/rp_filter"), "net.ipv4.conf.eth0/100.rp_filter");
    }
}
