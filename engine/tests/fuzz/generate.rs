//! Generated manifests for the fuzz runs (engine: loader and engine; operator: every printer).

#![allow(dead_code)]

/// xorshift64*: small, deterministic, good enough to pick pieces.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &[
    "web",
    "db",
    "a\u{1b}[31mred",
    "x\u{202e}y",
    "line\nbreak",
    "caf\u{e9}",
    "",
    "-",
    "*",
    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
];
const KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Namespace",
    "Service",
    "Ingress",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ServiceAccount",
    "NetworkPolicy",
    "Node",
    "List",
    "PodList",
    "Widget",
    "SecurityPolicy",
    "SecurityException",
    "ClusterSecurityException",
];
const VALUES: &[&str] = &[
    "true",
    "false",
    "0",
    "-1",
    "1e400",
    "null",
    "~",
    "[]",
    "{}",
    "\"\"",
    "[1, 2]",
    "&a x",
    "*a",
    "!!binary AAAA",
    "'q''",
    "{a: [b, {c: d}]}",
    "\"\\u0000\"",
    "0x1F",
    ".inf",
    "2026-01-01",
];

fn container(rng: &mut Rng) -> String {
    let mut fields = vec![format!("name: \"{}\"", rng.pick(NAMES).escape_default())];
    fields.push(format!("image: {}", rng.pick(&["nginx", "nginx:1.27", "reg.example/x@sha256:abc", "\"\"", "7"])));
    if rng.below(2) == 0 {
        let flag = rng.pick(&["privileged", "runAsNonRoot", "allowPrivilegeEscalation", "readOnlyRootFilesystem"]);
        fields.push(format!("securityContext: {{{flag}: {}}}", rng.pick(VALUES)));
    }
    format!("{{{}}}", fields.join(", "))
}

fn object(rng: &mut Rng, depth: usize) -> String {
    // Vigil's own kinds, often invalid, make a whole scan unusable: a few of them, not one in seven.
    let kind = if rng.below(4) == 0 { rng.pick(KINDS) } else { rng.pick(&KINDS[..16]) };
    let group = match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => "rbac.authorization.k8s.io/v1",
        "Ingress" | "NetworkPolicy" => "networking.k8s.io/v1",
        "SecurityPolicy" | "SecurityException" | "ClusterSecurityException" => "vigil.dev/v1alpha1",
        "Widget" => "example.com/v1",
        _ => "v1",
    };
    let mut out = format!("apiVersion: {group}\nkind: {kind}\n");
    if rng.below(8) != 0 {
        out += &format!(
            "metadata: {{name: \"{}\", namespace: {}}}\n",
            rng.pick(NAMES).escape_default(),
            rng.pick(&["shop", "\"\"", "kube-system", "x"])
        );
    }
    if kind.ends_with("List") && depth < 3 {
        out += "items:\n";
        for _ in 0..rng.below(4) {
            let item = object(rng, depth + 1);
            for (i, line) in item.lines().enumerate() {
                out += if i == 0 { "- " } else { "  " };
                out += line;
                out += "\n";
            }
        }
        return out;
    }
    let containers: Vec<String> = (0..rng.below(3)).map(|_| container(rng)).collect();
    let pod_spec = format!(
        "{{containers: [{}], hostPID: {}}}",
        containers.join(", "),
        rng.pick(&["true", "false", "true", "false", "7"])
    );
    out += &match kind {
        "Pod" => format!("spec: {pod_spec}\n"),
        "CronJob" => format!("spec: {{schedule: x, jobTemplate: {{spec: {{template: {{spec: {pod_spec}}}}}}}}}\n"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => format!("spec: {{template: {{spec: {pod_spec}}}}}\n"),
        "Role" | "ClusterRole" => {
            format!("rules: [{{apiGroups: ['*'], resources: [{}], verbs: ['*']}}]\n", rng.pick(VALUES))
        }
        "SecurityPolicy" => format!(
            "spec: {{priority: {}, customChecks: [{{id: c, title: t, risk: 3, message: m, expression: \"{}\"}}]}}\n",
            rng.pick(VALUES),
            rng.pick(&["true", "object.metadata.name == ''", "[1].all(x, x > 0)", "1 +"])
        ),
        "SecurityException" | "ClusterSecurityException" => format!(
            "spec: {{checks: [{}], reason: r, owner: o, match: {{names: ['*{}*']}}}}\n",
            rng.pick(&["host-pid", "nope", "c"]),
            rng.pick(NAMES).escape_default()
        ),
        _ => format!("spec: {}\n", rng.pick(VALUES)),
    };
    out
}

/// A stream of documents, sometimes as JSON, then mutated byte by byte.
pub fn document_stream(rng: &mut Rng) -> Vec<u8> {
    let mut text = String::new();
    for _ in 0..1 + rng.below(5) {
        let doc = object(rng, 0);
        if rng.below(5) == 0 {
            // The same object as JSON, when it parses as YAML.
            if let Ok(value) = serde_saphyr::from_str::<serde_json::Value>(&doc) {
                text += &serde_json::to_string(&value).unwrap();
                text += "\n";
                continue;
            }
        }
        text += &doc;
        text += rng.pick(&["---\n", "---\n", "...\n---\n", "--- # c\n"]);
    }
    let mut bytes = text.into_bytes();
    for _ in 0..rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(6) {
            0 => bytes[at] = (rng.next() & 0xff) as u8,
            1 => bytes.truncate(at),
            2 => bytes
                .splice(
                    at..at,
                    rng.pick(&["\r", "\0", "{", "]", "&a ", "*a", "\n---\n", "\u{feff}", "\t", "\\"])
                        .bytes()
                        .collect::<Vec<_>>(),
                )
                .for_each(drop),
            3 => bytes.insert(at, b'\n'),
            4 => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                let end = (at + rng.below(64)).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                bytes.splice(at..at, piece).for_each(drop);
            }
        }
    }
    bytes
}
