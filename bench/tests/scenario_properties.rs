//! Arbitrary scenario files, and every shipped scenario with one value replaced by arbitrary
//! text, are parsed and planned without a panic: each is either a plan or errors naming where.

use std::path::Path;

use proptest::prelude::*;
use sandbox_bench::BenchPlan;
use sandbox_bench::scenario::{Scenario, ScenarioError};

fn shipped() -> Vec<String> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir("../scenarios").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            texts.push(std::fs::read_to_string(path).unwrap());
        }
    }
    texts.sort();
    texts
}

/// Parses and, if valid, plans `text`; a panic fails the property.
fn parse_and_plan(text: &str) -> Result<(), TestCaseError> {
    match Scenario::parse(Path::new("fuzz.yaml"), text) {
        Ok(scenario) => {
            let _ = BenchPlan::new(&scenario, None);
        }
        Err(ScenarioError::Invalid(problems)) => {
            prop_assert!(!problems.is_empty());
            for p in problems {
                prop_assert!(!p.field.is_empty() && !p.message.is_empty(), "{p}");
            }
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_text_is_refused_or_planned_without_a_panic(text in "\\PC{0,400}") {
        parse_and_plan(&text)?;
    }

    #[test]
    fn a_shipped_scenario_with_one_value_replaced_is_refused_or_planned(
        file in any::<prop::sample::Index>(),
        line in any::<prop::sample::Index>(),
        value in prop::sample::select(vec![
            "-1", "0", "1e309", "NaN", ".inf", "4294967296", "99999999999999999999", "\"\"",
            "[]", "{}", "~", "-5s", "0s", "1000000h", "true", "x", "{every: 0s}",
            "{at: -1s}", "{every: 1ms, count: 10000}", "[{controllerKill: {}}]",
        ]),
    ) {
        let texts = shipped();
        let text = file.get(&texts);
        let lines: Vec<&str> = text.lines().collect();
        let n = line.index(lines.len());
        // Keep the key, replace what follows its colon.
        let replaced: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| match l.split_once(": ") {
                Some((key, _)) if i == n => format!("{key}: {value}"),
                _ => (*l).to_string(),
            })
            .collect();
        parse_and_plan(&replaced.join("\n"))?;
    }
}
