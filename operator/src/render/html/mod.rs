//! `vigil scan -o html`: one self-contained page for people — the overall score, failing findings by
//! severity and by namespace as inline SVG, and the findings table (sortable and filterable with a little
//! inline script, readable without it).
//!
//! The page fetches nothing: the stylesheet and script are inline, the charts are SVG drawn here, and a
//! Content-Security-Policy of `default-src 'none'` that allows only this stylesheet and this script (by
//! hash) makes the browser refuse anything else. Every text from the input (names, messages, check ids)
//! goes through [`Esc`]; the script reads the table from the DOM, so no input is ever embedded in script.
//!
//! Reports stream by; the page keeps one small row per finding (and one subject per report with
//! findings), since the score and charts that head the page are known only at the end. Rows share their
//! texts (check ids, messages, kinds, namespaces repeat across thousands of subjects): a row costs a few
//! words, so the page's memory stays near what `-o json` costs (docs/performance.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::rc::Rc;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use vigil_crds::{ClusterRollup, FindingResult, Severity};
use vigil_engine::checks::catalog;
use vigil_engine::{PolicySet, Report};

mod charts;
mod escape;

use charts::{namespace_chart, severity_chart};
use escape::{Esc, Prose};

const STYLE: &str = include_str!("html.css");
const SCRIPT: &str = include_str!("html.js");

/// Worst first: the order of cards, bars and legends.
const SEVERITIES: [Severity; 4] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];

/// Namespaces the chart names; the rest share one bar.
const CHART_NAMESPACES: usize = 12;

/// The subject of one or more rows.
struct SubjectRow {
    kind: Rc<str>,
    /// Empty for cluster-scoped subjects.
    namespace: Rc<str>,
    name: Box<str>,
}

/// One finding as the table shows it.
/// A few words: a page of a million findings holds a million rows.
struct Row {
    subject: u32,
    check_id: TextId,
    message: TextId,
    result: FindingResult,
    severity: Severity,
}

/// A text in [`Texts`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TextId(u32);

/// Every text rows share, once: check ids, messages, kinds and namespaces repeat across thousands of
/// subjects.
#[derive(Default)]
struct Texts {
    ids: HashMap<Rc<str>, TextId>,
    texts: Vec<Rc<str>>,
}

impl Texts {
    fn intern(&mut self, text: &str) -> TextId {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        // More distinct texts than u32 holds cannot come from an input under the size cap.
        let id = TextId(u32::try_from(self.texts.len()).expect("fewer than 2^32 distinct texts"));
        let shared: Rc<str> = Rc::from(text);
        self.ids.insert(shared.clone(), id);
        self.texts.push(shared);
        id
    }

    fn get(&self, id: TextId) -> &str {
        &self.texts[id.0 as usize]
    }
}

/// What the page says about a check.
struct CheckDoc<'a> {
    title: &'a str,
    fails_when: &'a str,
    /// None for custom checks: a policy says what fails, not how to fix it.
    remediation: Option<&'a str>,
}

/// A custom check's [`CheckDoc`].
struct CustomDoc {
    title: String,
    fails_when: String,
}

/// Collects what the page needs while reports stream by; [`Page::write`] prints it at the end.
pub struct Page {
    subjects: Vec<SubjectRow>,
    rows: Vec<Row>,
    reports: usize,
    rollup: Option<ClusterRollup>,
    evaluated_at: Option<String>,
    /// The policies' custom checks (the catalog's are looked up by id); the first in precedence wins.
    custom: HashMap<String, CustomDoc>,
    texts: Texts,
}

impl Page {
    pub fn new(policies: &PolicySet) -> Page {
        let mut custom = HashMap::new();
        let in_precedence = policies.policies().iter().chain(std::iter::once(policies.fallback()));
        for policy in in_precedence {
            for check in &policy.custom_checks {
                custom.entry(check.id.clone()).or_insert_with(|| CustomDoc {
                    title: check.title.clone(),
                    fails_when: format!(
                        "`{}` is false (a custom check of SecurityPolicy `{}`)",
                        check.expression, policy.name
                    ),
                });
            }
        }
        Page {
            subjects: Vec::new(),
            rows: Vec::new(),
            reports: 0,
            rollup: None,
            evaluated_at: None,
            custom,
            texts: Texts::default(),
        }
    }

    /// The shared copy of `text`, for a subject's kind or namespace.
    fn intern(&mut self, text: &str) -> Rc<str> {
        let id = self.texts.intern(text);
        self.texts.texts[id.0 as usize].clone()
    }

    pub fn add(&mut self, report: &Report) {
        self.reports += 1;
        let status = report.status();
        if let Some(rollup) = &status.cluster {
            self.rollup = Some(rollup.clone());
        }
        if self.evaluated_at.is_none() {
            self.evaluated_at = status.evaluated_at.as_ref().map(|t| t.0.to_string());
        }
        if status.findings.is_empty() {
            return;
        }
        let subject = report.subject();
        let namespace = if subject.kind == "Namespace" {
            self.intern(&subject.name)
        } else {
            self.intern(subject.namespace.as_deref().unwrap_or_default())
        };
        let kind = self.intern(&subject.kind);
        self.subjects.push(SubjectRow { kind, namespace, name: subject.name.as_str().into() });
        // Fewer than 2^32 subjects: an input under the size cap holds fewer objects.
        let index = u32::try_from(self.subjects.len() - 1).expect("fewer than 2^32 subjects");
        for f in &status.findings {
            let message = match &f.waived_by {
                Some(by) => self.texts.intern(&format!("{} (waived by {by})", f.message)),
                None => self.texts.intern(&f.message),
            };
            let check_id = self.texts.intern(&f.check_id);
            self.rows.push(Row { subject: index, check_id, result: f.result, severity: f.severity, message });
        }
    }

    /// The catalog's words on a check, or the policy's for a custom check.
    fn doc(&self, id: &str) -> Option<CheckDoc<'_>> {
        if let Some(c) = catalog::find(id) {
            return Some(CheckDoc { title: c.title, fails_when: c.fails_when, remediation: Some(c.remediation) });
        }
        self.custom.get(id).map(|c| CheckDoc { title: &c.title, fails_when: &c.fails_when, remediation: None })
    }

    /// Prints the page; `skipped` and `unreadable` as the table's footer has them.
    pub fn write(
        &mut self,
        out: &mut impl Write,
        skipped: &BTreeMap<String, usize>,
        unreadable: usize,
    ) -> std::io::Result<()> {
        // Worst first, as the table printer orders a subject's findings; then by subject and check.
        let (subjects, texts) = (&self.subjects, &self.texts);
        let key = |r: &Row| {
            let s = &subjects[r.subject as usize];
            (result_rank(r.result), severity_rank(r), &*s.namespace, &*s.kind, &*s.name, texts.get(r.check_id))
        };
        self.rows.sort_by(|a, b| key(a).cmp(&key(b)));
        write_head(out)?;
        writeln!(out, "<body>\n<main>")?;
        writeln!(out, "<header class=\"top\"><h1>Vigil security report</h1>")?;
        let when = self.evaluated_at.as_deref().map(|t| format!(" · evaluated {}", Esc(t))).unwrap_or_default();
        writeln!(
            out,
            "<p class=\"muted\">vigil {} · {} reports{when}</p></header>",
            env!("CARGO_PKG_VERSION"),
            self.reports
        )?;
        self.write_summary(out)?;
        self.write_charts(out)?;
        self.write_table(out)?;
        self.write_checks(out)?;
        write_footer(out, skipped, unreadable)?;
        writeln!(out, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>")
    }

    fn write_summary(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "<section class=\"summary\" aria-label=\"Summary\">")?;
        match &self.rollup {
            Some(rollup) => {
                let score = rollup.score;
                let grade = match score {
                    80.. => "good",
                    50..=79 => "fair",
                    _ => "poor",
                };
                // A ring filled to the score.
                let circumference = 2.0 * std::f64::consts::PI * 52.0;
                let filled = circumference * f64::from(score) / 100.0;
                writeln!(
                    out,
                    "<div class=\"card score {grade}\" id=\"score\" data-score=\"{score}\">\
                     <svg class=\"gauge\" viewBox=\"0 0 120 120\" role=\"img\" aria-label=\"Overall score {score} of 100\">\
                     <circle class=\"gauge-track\" cx=\"60\" cy=\"60\" r=\"52\"/>\
                     <circle class=\"gauge-value\" cx=\"60\" cy=\"60\" r=\"52\" stroke-dasharray=\"{filled:.1} {circumference:.1}\" transform=\"rotate(-90 60 60)\"/>\
                     <text class=\"gauge-text\" x=\"60\" y=\"70\" text-anchor=\"middle\">{score}</text></svg>\
                     <div><div class=\"card-title\">Overall score</div><div class=\"muted\">of 100, over {} reports</div></div></div>",
                    rollup.reports
                )?;
                let f = &rollup.failing;
                for (severity, count) in SEVERITIES.iter().zip([f.critical, f.high, f.medium, f.low]) {
                    writeln!(
                        out,
                        "<div class=\"card count {s}\"><div class=\"big\">{count}</div><div>{s}</div>\
                         <div class=\"muted\">failing checks</div></div>",
                        s = severity.as_str()
                    )?;
                }
                writeln!(
                    out,
                    "<div class=\"card results\"><div><b>{}</b> passed</div><div><b>{}</b> failed</div>\
                     <div><b>{}</b> waived</div><div><b>{}</b> not applicable</div><div><b>{}</b> errors</div></div>",
                    f.pass, f.fail, f.waived, f.not_applicable, f.error
                )?;
            }
            None => writeln!(
                out,
                "<div class=\"card score\" id=\"score\"><div class=\"card-title\">No cluster roll-up in this scan</div></div>"
            )?,
        }
        writeln!(out, "</section>")
    }

    /// Failing findings (the table's Fail rows) by severity and by namespace.
    fn write_charts(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut by_severity = [0u32; 4];
        let mut by_namespace: BTreeMap<&str, [u32; 4]> = BTreeMap::new();
        for row in self.rows.iter().filter(|r| r.result == FindingResult::Fail) {
            let i = severity_index(row.severity);
            by_severity[i] += 1;
            by_namespace.entry(&self.subjects[row.subject as usize].namespace).or_default()[i] += 1;
        }
        writeln!(out, "<section class=\"charts\">")?;
        writeln!(out, "<figure class=\"card chart\"><figcaption>Failing findings by severity</figcaption>")?;
        severity_chart(out, by_severity)?;
        writeln!(out, "</figure>")?;
        writeln!(out, "<figure class=\"card chart\"><figcaption>Failing findings by namespace</figcaption>")?;
        let mut namespaces: Vec<(&str, [u32; 4])> = by_namespace.into_iter().collect();
        // Worst first: most critical, then high, ...; then by name.
        namespaces.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let scores: HashMap<&str, u8> =
            self.rollup.iter().flat_map(|r| &r.worst_namespaces).map(|n| (n.namespace.as_str(), n.score)).collect();
        namespace_chart(out, &namespaces, &scores)?;
        writeln!(out, "</figure>\n</section>")
    }

    fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "<section class=\"card findings\">\n<h2>Findings</h2>")?;
        if self.rows.is_empty() {
            return writeln!(out, "<p class=\"empty\">No findings: every evaluated check passed.</p>\n</section>");
        }
        // Filters work only with the script, which shows them.
        writeln!(
            out,
            "<form id=\"filters\" class=\"filters\" hidden>\
             <label>Search <input type=\"search\" name=\"q\" placeholder=\"name, check, message\" autocomplete=\"off\"></label>\
             <label>Severity <select name=\"severity\"><option>all</option>"
        )?;
        for s in SEVERITIES {
            write!(out, "<option value=\"{s}\">{s}</option>")?;
        }
        write!(out, "</select></label>\n<label>Result <select name=\"result\"><option>all</option>")?;
        for result in [FindingResult::Fail, FindingResult::Error, FindingResult::Waived, FindingResult::NotApplicable] {
            write!(out, "<option value=\"{}\">{}</option>", result_value(result), result_label(result))?;
        }
        write!(out, "</select></label>\n<label>Namespace <select name=\"namespace\"><option>all</option>")?;
        let namespaces: BTreeSet<&str> = self.subjects.iter().map(|s| &*s.namespace).collect();
        for ns in namespaces {
            let label = if ns.is_empty() { "(cluster-scoped)" } else { ns };
            write!(out, "<option value=\"{}\">{}</option>", Esc(ns), Esc(label))?;
        }
        writeln!(out, "</select></label>\n<output id=\"shown\" aria-live=\"polite\"></output></form>")?;
        writeln!(
            out,
            "<div class=\"scroll\"><table id=\"findings\">\n<colgroup><col class=\"c-severity\"><col class=\"c-result\">\
             <col class=\"c-kind\"><col class=\"c-namespace\"><col class=\"c-name\"><col class=\"c-check\"><col></colgroup>\n<thead><tr>\
             <th data-sort=\"number\">Severity</th><th data-sort=\"number\">Result</th><th data-sort=\"text\">Kind</th>\
             <th data-sort=\"text\">Namespace</th><th data-sort=\"text\">Name</th><th data-sort=\"text\">Check</th>\
             <th data-sort=\"text\">Message</th></tr></thead>\n<tbody>"
        )?;
        let mut titles: HashMap<&str, Option<CheckDoc>> = HashMap::new();
        for row in &self.rows {
            let subject = &self.subjects[row.subject as usize];
            let check_id = self.texts.get(row.check_id);
            // Severity means something for failing and waived checks only (as in the table output).
            let (severity_value, severity_cell) = match row.result {
                FindingResult::Fail | FindingResult::Waived => {
                    let s = row.severity.as_str();
                    (s, format!("<span class=\"badge {s}\">{s}</span>"))
                }
                FindingResult::NotApplicable | FindingResult::Error => ("", String::new()),
            };
            let namespace_cell = if subject.namespace.is_empty() {
                "<span class=\"muted\">—</span>".to_string()
            } else {
                Esc(&subject.namespace).to_string()
            };
            let title = titles.entry(check_id).or_insert_with(|| self.doc(check_id));
            let check_title = title.as_ref().map(|d| format!(" title=\"{}\"", Esc(d.title))).unwrap_or_default();
            writeln!(
                out,
                "<tr data-severity=\"{severity_value}\" data-result=\"{result}\" data-namespace=\"{ns}\">\
                 <td data-key=\"{sk}\">{severity_cell}</td><td data-key=\"{rk}\" class=\"result {result}\">{rl}</td>\
                 <td>{kind}</td><td data-key=\"{ns}\">{namespace_cell}</td><td class=\"name\">{name}</td>\
                 <td class=\"check\"><a href=\"#check-{id}\"{check_title}>{id}</a></td><td>{message}</td></tr>",
                result = result_value(row.result),
                ns = Esc(&subject.namespace),
                sk = severity_rank(row),
                rk = result_rank(row.result),
                rl = result_label(row.result),
                kind = Esc(&subject.kind),
                name = Esc(&subject.name),
                id = Esc(check_id),
                message = Esc(self.texts.get(row.message)),
            )?;
        }
        writeln!(out, "</tbody>\n</table></div>\n</section>")
    }

    /// What each check in the table wants and how to fix it, worst failing first.
    fn write_checks(&self, out: &mut impl Write) -> std::io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        // Each check once, with the worst severity it fails (or is waived) at.
        let mut checks: BTreeMap<&str, Option<Severity>> = BTreeMap::new();
        for row in &self.rows {
            let failing = matches!(row.result, FindingResult::Fail | FindingResult::Waived).then_some(row.severity);
            let worst = checks.entry(self.texts.get(row.check_id)).or_default();
            *worst = (*worst).max(failing);
        }
        let mut checks: Vec<(&str, Option<Severity>)> = checks.into_iter().collect();
        checks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        writeln!(out, "<section class=\"card checks\" id=\"checks\">\n<h2>Checks</h2>\n<dl>")?;
        for (id, severity) in checks {
            let badge =
                severity.map(|s| format!(" <span class=\"badge {s}\">{s}</span>", s = s.as_str())).unwrap_or_default();
            write!(out, "<dt id=\"check-{id}\"><code>{id}</code>{badge}", id = Esc(id))?;
            match self.doc(id) {
                Some(doc) => {
                    write!(out, " {}</dt><dd><p><b>Fails when</b> {}</p>", Prose(doc.title), Prose(doc.fails_when))?;
                    if let Some(fix) = doc.remediation {
                        write!(out, "<p><b>Fix</b> {}</p>", Prose(fix))?;
                    }
                    writeln!(out, "</dd>")?;
                }
                None => writeln!(out, "</dt><dd></dd>")?,
            }
        }
        writeln!(out, "</dl>\n</section>")
    }
}

/// The document head: the stylesheet, and a policy that lets the page load nothing and run only its own
/// stylesheet and script.
fn write_head(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src '{}'; script-src '{}'; \
         base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"vigil {}\">\n\
         <title>Vigil security report</title>\n<style>{STYLE}</style>\n</head>",
        csp_hash(STYLE),
        csp_hash(SCRIPT),
        env!("CARGO_PKG_VERSION"),
    )
}

fn write_footer(out: &mut impl Write, skipped: &BTreeMap<String, usize>, unreadable: usize) -> std::io::Result<()> {
    writeln!(out, "<footer class=\"muted\">")?;
    if !skipped.is_empty() {
        let kinds: Vec<String> = skipped.iter().map(|(k, n)| format!("{} ({n})", Esc(k))).collect();
        writeln!(out, "<p>Skipped kinds Vigil does not audit: {}</p>", kinds.join(", "))?;
    }
    if unreadable > 0 {
        writeln!(out, "<p>{unreadable} document(s) could not be read (vigil printed them on stderr).</p>")?;
    }
    writeln!(
        out,
        "<p>Scores are <code>round(100 * (1 - failed_risk / evaluated_risk))</code>; the cards count failing \
         checks per subject, the charts and table failing findings (one per container where a check looks at \
         containers).</p>\n</footer>"
    )
}

/// `sha256-…` of an inline element's text, for the Content-Security-Policy.
fn csp_hash(text: &str) -> String {
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes())))
}

fn severity_index(severity: Severity) -> usize {
    SEVERITIES.iter().position(|s| *s == severity).expect("every severity is listed")
}

/// Sort key of the severity column: worst first, blank (not applicable, error) last.
fn severity_rank(row: &Row) -> usize {
    match row.result {
        FindingResult::Fail | FindingResult::Waived => severity_index(row.severity),
        FindingResult::NotApplicable | FindingResult::Error => SEVERITIES.len(),
    }
}

/// Sort key of the result column: as the table output orders them.
fn result_rank(result: FindingResult) -> u8 {
    match result {
        FindingResult::Fail => 0,
        FindingResult::Error => 1,
        FindingResult::Waived => 2,
        FindingResult::NotApplicable => 3,
    }
}

fn result_value(result: FindingResult) -> &'static str {
    match result {
        FindingResult::Fail => "Fail",
        FindingResult::Error => "Error",
        FindingResult::Waived => "Waived",
        FindingResult::NotApplicable => "NotApplicable",
    }
}

fn result_label(result: FindingResult) -> &'static str {
    match result {
        FindingResult::NotApplicable => "N/A",
        other => result_value(other),
    }
}

#[cfg(test)]
mod tests {
    use super::charts::shorten;
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            Esc("<script>alert('x')</script> & \"q\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(Esc("plain — ünïcode").to_string(), "plain — ünïcode");
        assert_eq!(Prose("set `a<b` here").to_string(), "set <code>a&lt;b</code> here");
    }

    #[test]
    fn shortens_by_characters() {
        assert_eq!(shorten("shop", 22), "shop");
        assert_eq!(shorten("ääääää", 4), "äää…");
    }

    #[test]
    fn hostile_namespaces_in_the_chart_are_escaped() {
        let mut out = Vec::new();
        let namespaces = [("<img src=x onerror=alert(1)>", [1, 0, 0, 0]), ("", [0, 2, 0, 0])];
        namespace_chart(&mut out, &namespaces, &HashMap::new()).unwrap();
        let svg = String::from_utf8(out).unwrap();
        assert!(!svg.contains("<img"), "{svg}");
        assert!(svg.contains("data-namespace=\"&lt;img src=x onerror=alert(1)&gt;\""), "{svg}");
        assert!(svg.contains("cluster-scoped"), "{svg}");
    }

    #[test]
    fn many_namespaces_share_one_bar() {
        let names: Vec<String> = (0..20).map(|i| format!("ns-{i:02}")).collect();
        let namespaces: Vec<(&str, [u32; 4])> = names.iter().map(|n| (n.as_str(), [0, 0, 1, 0])).collect();
        let mut out = Vec::new();
        namespace_chart(&mut out, &namespaces, &HashMap::new()).unwrap();
        let svg = String::from_utf8(out).unwrap();
        assert_eq!(svg.matches("<g class=\"bar\"").count(), CHART_NAMESPACES);
        assert!(svg.contains("and 8 more namespaces: 8 failing findings"), "{svg}");
    }

    #[test]
    fn a_clean_scan_says_so() {
        let mut page = Page::new(&PolicySet::default());
        let mut out = Vec::new();
        page.write(&mut out, &BTreeMap::new(), 0).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.contains("No findings: every evaluated check passed."), "{html}");
        assert!(!html.contains("<table"), "{html}");
        assert!(html.ends_with("</html>\n"));
    }
}
