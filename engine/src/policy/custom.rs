//! A policy's custom checks: CEL expressions (Kubernetes' dialect, as in CRD rules and admission policies)
//! over a workload. Compiled once when the policy is; evaluated on every workload the policy judges.
//!
//! Variables: `object` (the workload as JSON, e.g. a Deployment), `template` (its pod template:
//! `{metadata, spec}`; for a bare Pod, the pod's own) and `namespace` (the Namespace object, or null when
//! it is unknown). True passes; false fails with the check's message; anything else, or an evaluation
//! error (such as reading a field that is absent without `has()`), is an `Error` result with the reason.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use kube_cel::KubeCelExt;
use kube_cel::cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};
use kube_cel::cel::{self, Context, Program, Value};
use vigil_crds::CustomCheckSpec;

use crate::checks::outcome::{Outcome, Violation};
use crate::input::index::Index;
use crate::subject::Workload;

/// The variables an expression may read.
pub const VARIABLES: [&str; 3] = ["object", "template", "namespace"];

/// Names CEL resolves without a declaration: type denotations (`type(x) == string`).
const BUILTIN_IDENTIFIERS: [&str; 11] =
    ["bool", "bytes", "double", "duration", "int", "list", "map", "null_type", "string", "timestamp", "uint"];

/// Deeper bracket nesting is refused before parsing: the parser recurses through a dozen rules per level.
const MAX_NESTING: usize = 64;

/// Deeper expression trees are refused: evaluating (and dropping) a tree recurses per level, and a user's
/// expression must never overflow an operator worker's stack. Long chains (`a.b.c...`, `1 + 1 + ...`) are
/// deep without brackets.
const MAX_DEPTH: usize = 32;

/// Longer expressions are refused: a bound on literals (a huge list or string) and on parsing time.
pub const MAX_EXPRESSION_BYTES: usize = 8 << 10;

/// Comprehensions (`all`, `exists`, `map`, `filter`, ...) nested deeper are refused: each level multiplies
/// the work by the length of what it iterates.
pub const MAX_LOOP_NESTING: usize = 2;

/// The most iterations one evaluation may take, counted before it starts from the input's widest list,
/// map or string (each loop level iterates at most that many times): beyond it the result is an `Error`.
/// The API server's per-call CEL cost limit is the same figure.
pub const MAX_ITERATIONS: u64 = 1_000_000;

/// The parser gets a thread of its own with this much stack, so no input can overflow the caller's.
const COMPILER_STACK: usize = 64 << 20;

/// A compiled custom check.
#[derive(Clone)]
pub struct CustomCheck {
    pub id: String,
    pub title: String,
    /// 0-10, as the policy's spec gives it (before any risk override).
    pub risk: u8,
    pub message: String,
    pub expression: String,
    program: Arc<Program>,
    /// How deep its comprehensions nest (0: none).
    loop_depth: usize,
}

impl std::fmt::Debug for CustomCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomCheck").field("id", &self.id).field("expression", &self.expression).finish()
    }
}

impl PartialEq for CustomCheck {
    fn eq(&self, other: &Self) -> bool {
        // The program is a function of the expression.
        (&self.id, &self.title, self.risk, &self.message, &self.expression)
            == (&other.id, &other.title, other.risk, &other.message, &other.expression)
    }
}

/// Compiles an expression: the parser's message for bad syntax, or why it is refused (too deep, or reading
/// undeclared variables).
pub fn compile_expression(expression: &str) -> Result<Program, String> {
    if expression.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(format!("the expression is longer than {MAX_EXPRESSION_BYTES} bytes"));
    }
    if nesting_depth(expression) > MAX_NESTING {
        return Err(format!("the expression nests brackets deeper than {MAX_NESTING} levels"));
    }
    let source = expression.to_string();
    let compiler = std::thread::Builder::new()
        .name("cel-compile".into())
        .stack_size(COMPILER_STACK)
        .spawn(move || checked_program(&source))
        .map_err(|e| format!("cannot start the CEL compiler: {e}"))?;
    // The parser is third-party code fed user input: a panic in it is a bad expression, not a crash.
    compiler.join().unwrap_or_else(|_| Err("the CEL parser failed on this expression".into()))
}

/// Parses and vets a program; runs on the compiler thread, where a refused deep tree is also dropped.
fn checked_program(expression: &str) -> Result<Program, String> {
    let program = Program::compile(expression).map_err(|e| e.to_string())?;
    if tree_depth(program.expression()) > MAX_DEPTH {
        return Err(format!("the expression is deeper than {MAX_DEPTH} levels; split long chains"));
    }
    if loop_depth(program.expression()) > MAX_LOOP_NESTING {
        return Err(format!(
            "comprehensions (all, exists, map, filter, ...) nest deeper than {MAX_LOOP_NESTING} levels: the cost grows with the power of the input's size"
        ));
    }
    if growing_replaces(program.expression()) > 1 {
        return Err(
            "more than one replace() may grow the string (a replacement longer than what it replaces, or not a literal): chained, they grow it exponentially".into(),
        );
    }
    let mut undeclared = BTreeSet::new();
    free_variables(program.expression(), &mut Vec::new(), &mut undeclared);
    if !undeclared.is_empty() {
        let names: Vec<String> = undeclared.iter().map(|n| format!("`{n}`")).collect();
        return Err(format!(
            "undeclared reference to {}: the variables are `object`, `template` and `namespace`",
            names.join(", ")
        ));
    }
    Ok(program)
}

/// The depth of an expression tree.
fn tree_depth(expr: &IdedExpr) -> usize {
    let children: Vec<&IdedExpr> = match &expr.expr {
        Expr::Call(call) => call.target.iter().map(|t| t.as_ref()).chain(call.args.iter()).collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(entry_children).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(entry_children).collect(),
        Expr::Comprehension(c) => vec![&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    };
    1 + children.into_iter().map(tree_depth).max().unwrap_or(0)
}

fn children(expr: &IdedExpr) -> Vec<&IdedExpr> {
    match &expr.expr {
        Expr::Call(call) => call.target.iter().map(|t| t.as_ref()).chain(call.args.iter()).collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(entry_children).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(entry_children).collect(),
        Expr::Comprehension(c) => vec![&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

/// How deep comprehensions nest in an expression tree.
fn loop_depth(expr: &IdedExpr) -> usize {
    let own = usize::from(matches!(expr.expr, Expr::Comprehension(_)));
    own + children(expr).into_iter().map(loop_depth).max().unwrap_or(0)
}

/// Calls of `replace` that may make a string longer: a replacement that is not a literal, or a literal
/// longer than a literal it replaces.
fn growing_replaces(expr: &IdedExpr) -> usize {
    let own = match &expr.expr {
        Expr::Call(call) if call.func_name == "replace" => {
            let literal = |e: Option<&IdedExpr>| match e.map(|e| &e.expr) {
                Some(Expr::Literal(kube_cel::cel::common::ast::LiteralValue::String(s))) => Some(s.len()),
                _ => None,
            };
            match (literal(call.args.first()), literal(call.args.get(1))) {
                (Some(from), Some(to)) => usize::from(from == 0 || to > from),
                _ => 1,
            }
        }
        _ => 0,
    };
    own + children(expr).into_iter().map(growing_replaces).sum::<usize>()
}

fn entry_children(entry: &IdedEntryExpr) -> Vec<&IdedExpr> {
    match &entry.expr {
        EntryExpr::StructField(f) => vec![&f.value],
        EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
    }
}

impl CustomCheck {
    /// Compiles a spec; the error is the compiler's message. Id and risk are checked by the policy.
    pub fn compile(spec: &CustomCheckSpec) -> Result<CustomCheck, String> {
        let program = compile_expression(&spec.expression)?;
        let loop_depth = loop_depth(program.expression());
        Ok(CustomCheck {
            loop_depth,
            id: spec.id.clone(),
            title: spec.title.clone(),
            risk: spec.risk,
            message: spec.message.clone(),
            expression: spec.expression.clone(),
            program: Arc::new(program),
        })
    }

    /// Evaluates the check on prepared variables.
    pub fn evaluate(&self, input: &CelInput) -> Outcome {
        // The work bound, counted before any is done: each loop level iterates at most the widest value.
        let iterations = (input.widest as u64).max(1).saturating_pow(self.loop_depth as u32);
        if iterations > MAX_ITERATIONS {
            return Outcome::error(format!(
                "the expression could iterate {iterations} times on this object (its largest list, map or string has {} entries; the limit is {MAX_ITERATIONS}); not evaluated",
                input.widest
            ));
        }
        // The interpreter is third-party code fed user input: a panic in it is an Error result.
        let result = ROOT.with(|root| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut scope = root.new_inner_scope();
                for (name, value) in &input.variables {
                    scope.add_variable_from_value(*name, value.clone());
                }
                self.program.execute(&scope)
            }))
        });
        match result {
            Ok(Ok(Value::Bool(true))) => Outcome::Pass,
            Ok(Ok(Value::Bool(false))) => Outcome::Fail(vec![Violation::object(self.message.clone())]),
            Ok(Ok(other)) => Outcome::error(format!("the expression gave a {}, not a bool", other.type_of())),
            Ok(Err(e)) => Outcome::error(format!("the expression failed: {e}")),
            Err(_) => Outcome::error("the CEL interpreter failed on this expression"),
        }
    }
}

thread_local! {
    /// The standard library plus Kubernetes' CEL functions, registered once per thread; each evaluation
    /// adds its variables in a child scope.
    static ROOT: Context<'static> = Context::default().with_all();
}

/// The variables of one workload, converted once for all of a policy's custom checks.
pub struct CelInput {
    variables: Vec<(&'static str, Value)>,
    /// The length of the input's longest list, map or string: what one loop level may iterate over.
    widest: usize,
}

/// The longest list, map or string in a value.
fn widest(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => items.iter().map(widest).fold(items.len(), usize::max),
        serde_json::Value::Object(fields) => {
            fields.iter().map(|(k, v)| widest(v).max(k.len())).fold(fields.len(), usize::max)
        }
        serde_json::Value::String(s) => s.len(),
        _ => 0,
    }
}

impl CelInput {
    /// `object`, `template` and `namespace` of a workload. The object is the one in the index (so every
    /// field is there); a workload not in the index is rebuilt from its parts.
    pub fn for_workload(index: &Index, workload: &Workload) -> Result<CelInput, String> {
        let template = object([("metadata", json(&*workload.template_meta)?), ("spec", json(&*workload.spec)?)]);
        let object = match workload_json(index, workload) {
            Some(found) => found,
            None => object([
                ("apiVersion", workload.api_version.into()),
                ("kind", workload.kind.into()),
                ("metadata", json(workload.meta)?),
                ("spec", object([("template", template.clone())])),
            ]),
        };
        let namespace = match index.namespaces.get("", workload.namespace()) {
            Some(ns) => json(ns.as_ref())?,
            None => serde_json::Value::Null,
        };
        let convert =
            |v: serde_json::Value| cel::to_value(v).map_err(|e| format!("cannot give the object to CEL: {e}"));
        let widest = widest(&object).max(widest(&template)).max(widest(&namespace));
        Ok(CelInput {
            widest,
            variables: vec![
                ("object", convert(object)?),
                ("template", convert(template)?),
                ("namespace", convert(namespace)?),
            ],
        })
    }
}

fn object<const N: usize>(fields: [(&str, serde_json::Value); N]) -> serde_json::Value {
    serde_json::Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, String> {
    serde_json::to_value(value).map_err(|e| format!("cannot serialize the workload: {e}"))
}

/// The workload's object as JSON, read from the index's packed bytes (no typed decode) with its metadata.
fn workload_json(index: &Index, workload: &Workload) -> Option<serde_json::Value> {
    fn packed_json<T>(packed: &crate::input::packed::Packed<T>) -> Option<serde_json::Value> {
        let mut value: serde_json::Value = packed.read_as().ok()?;
        value.as_object_mut()?.insert("metadata".into(), serde_json::to_value(&packed.metadata).ok()?);
        Some(value)
    }
    let (ns, name) = (workload.namespace(), workload.name());
    match workload.kind {
        "Deployment" => packed_json(index.deployments.get(ns, name)?),
        "StatefulSet" => packed_json(index.stateful_sets.get(ns, name)?),
        "DaemonSet" => packed_json(index.daemon_sets.get(ns, name)?),
        "ReplicaSet" => packed_json(index.replica_sets.get(ns, name)?),
        "Job" => packed_json(index.jobs.get(ns, name)?),
        "CronJob" => packed_json(index.cron_jobs.get(ns, name)?),
        "ReplicationController" => packed_json(index.replication_controllers.get(ns, name)?),
        "Pod" => packed_json(index.pods.get(ns, name)?),
        _ => None,
    }
}

/// The deepest bracket nesting outside string literals (roughly: quotes are not parsed, which only makes
/// the count larger).
fn nesting_depth(expression: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in expression.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Collects identifiers that are neither declared variables nor bound by a comprehension (`all`,
/// `exists`, `map`, ... expand to comprehensions over their own variables).
fn free_variables(expr: &IdedExpr, bound: &mut Vec<String>, out: &mut BTreeSet<String>) {
    match &expr.expr {
        Expr::Ident(name) => {
            let known = VARIABLES.contains(&name.as_str()) || BUILTIN_IDENTIFIERS.contains(&name.as_str());
            if !known && !bound.iter().any(|b| b == name) {
                out.insert(name.clone());
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                free_variables(target, bound, out);
            }
            for arg in &call.args {
                free_variables(arg, bound, out);
            }
        }
        Expr::Select(select) => free_variables(&select.operand, bound, out),
        Expr::List(list) => {
            for element in &list.elements {
                free_variables(element, bound, out);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(e) = &entry.expr {
                    free_variables(&e.key, bound, out);
                    free_variables(&e.value, bound, out);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                match &entry.expr {
                    EntryExpr::StructField(f) => free_variables(&f.value, bound, out),
                    EntryExpr::MapEntry(e) => {
                        free_variables(&e.key, bound, out);
                        free_variables(&e.value, bound, out);
                    }
                }
            }
        }
        Expr::Comprehension(c) => {
            free_variables(&c.iter_range, bound, out);
            free_variables(&c.accu_init, bound, out);
            let scope = bound.len();
            bound.push(c.iter_var.clone());
            bound.extend(c.iter_var2.clone());
            bound.push(c.accu_var.clone());
            free_variables(&c.loop_cond, bound, out);
            free_variables(&c.loop_step, bound, out);
            free_variables(&c.result, bound, out);
            bound.truncate(scope);
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comprehension_variables_are_bound() {
        assert!(compile_expression("object.spec.template.spec.containers.all(c, c.name != '')").is_ok());
        assert!(compile_expression("[1, 2].map(x, x * 2).exists(y, y == 4)").is_ok());
        assert!(compile_expression("type(object) == map").is_ok());
    }

    #[test]
    fn undeclared_variables_are_refused() {
        let err = compile_expression("obj.metadata.name == 'x' && c.name == ''").unwrap_err();
        assert!(err.contains("`c`, `obj`"), "{err}");
        let err = compile_expression("object.spec.template.spec.containers.all(c, c.name != '') && c.name == ''")
            .unwrap_err();
        assert!(err.contains("`c`"), "{err}");
    }

    #[test]
    fn syntax_errors_carry_the_parser_message() {
        let err = compile_expression("object.metadata.name ==").unwrap_err();
        assert!(err.contains("<input>:1:"), "{err}");
        assert!(compile_expression("   ").is_err());
        assert!(compile_expression(&format!("{}true{}", "(".repeat(100), ")".repeat(100))).is_err());
    }
}

#[cfg(test)]
mod pathological_tests {
    use super::*;

    /// Long chains parse into deep trees; compiling and evaluating them must not overflow a small stack
    /// (tokio's workers have 2 MiB).
    #[test]
    fn long_expressions_do_not_overflow_a_small_stack() {
        for deep in [format!("object{}", ".a".repeat(2000)), format!("1{} == 0", " + 1".repeat(1000))] {
            assert!(compile_expression(&deep).unwrap_err().contains("deeper than 32 levels"));
        }
        let expressions = [
            format!("object{}", ".a".repeat(2000)),
            format!("has(object{})", ".a".repeat(28)),
            format!("1{} == 29", " + 1".repeat(28)),
            format!("true{}", " && true".repeat(60)),
            format!("[1]{}", ".all(x, x > 0 && [2]".repeat(6)) + &")".repeat(6),
            format!("1{} == 0", " + 1".repeat(1000)),
            format!("{}true", "!".repeat(4000)),
            format!("true{}", " && true".repeat(500)),
        ];
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for e in &expressions {
                    if let Ok(program) = compile_expression(e) {
                        let check = CustomCheck {
                            id: "x".into(),
                            title: String::new(),
                            risk: 1,
                            message: String::new(),
                            expression: e.clone(),
                            loop_depth: loop_depth(program.expression()),
                            program: Arc::new(program),
                        };
                        let input = CelInput { variables: vec![("object", Value::Null)], widest: 0 };
                        let _ = check.evaluate(&input);
                    }
                }
            })
            .unwrap();
        assert!(handle.join().is_ok());
    }
}

#[cfg(test)]
mod cost_tests {
    use super::*;

    #[test]
    fn expensive_expressions_are_refused_at_compile_time() {
        let c = "object.spec.template.spec.containers";
        let triple = format!("{c}.all(a, {c}.all(b, {c}.all(d, a.name != d.name)))");
        assert!(compile_expression(&triple).unwrap_err().contains("nest deeper than 2 levels"));
        assert!(compile_expression(&format!("{c}.all(a, {c}.all(b, a == b || a.name != b.name))")).is_ok());
        let growth = "object.metadata.name.replace('', 'xxxxxxxx').replace('x', 'yyyyyyyy').size() > 0";
        assert!(compile_expression(growth).unwrap_err().contains("grow"));
        assert!(compile_expression("object.metadata.name.replace('-', '').replace('_', '') != ''").is_ok());
        let huge = format!("'{}' != ''", "x".repeat(MAX_EXPRESSION_BYTES));
        assert!(compile_expression(&huge).unwrap_err().contains("longer than"));
    }

    #[test]
    fn an_evaluation_beyond_the_iteration_budget_is_an_error_without_running() {
        let c = "object.spec.template.spec.containers";
        let spec = CustomCheckSpec {
            id: "pairs".into(),
            title: String::new(),
            risk: 1,
            message: "m".into(),
            expression: format!("{c}.all(a, {c}.all(b, a == b || a.name != b.name))"),
        };
        let check = CustomCheck::compile(&spec).unwrap();
        let containers: Vec<serde_json::Value> =
            (0..5000).map(|i| serde_json::json!({"name": format!("c{i}"), "image": "x"})).collect();
        let object = serde_json::json!({"spec": {"template": {"spec": {"containers": containers}}}});
        let input = CelInput { widest: widest(&object), variables: vec![("object", cel::to_value(object).unwrap())] };
        let Outcome::Error(reason) = check.evaluate(&input) else { panic!("not an error") };
        assert!(reason.contains("could iterate 25000000 times"), "{reason}");
        // Small objects run as usual.
        let object =
            serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}});
        let input = CelInput { widest: widest(&object), variables: vec![("object", cel::to_value(object).unwrap())] };
        assert_eq!(check.evaluate(&input), Outcome::Pass);
    }
}
