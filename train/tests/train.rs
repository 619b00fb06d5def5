//! A small end-to-end run: simulate a few days with fraud patterns into a journal, replay it with
//! the observation recorder, train, and check on held-out days that the score ranks fraud far
//! better than chance, beats the rules alone at the same review rate, and that the engine's
//! fixed-point score agrees with the float model.

use sluice_train::fit::FitOptions;
use sluice_train::sim::{SimOptions, simulate};
use sluice_train::train::{TrainOptions, report_text, train};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_model_trained_on_simulated_days_beats_the_rules_on_held_out_days() {
    let dir = temp_dir("small");
    let sim = SimOptions {
        days: 5,
        payments_per_day: 2_500,
        seed: 11,
    };
    let summary = simulate(&dir, &sim).unwrap();
    assert!(summary.fraud_payments > 100, "{summary:?}");
    // The channels answer refunds as they answer payments: none is left open to be queried.
    assert!(summary.refunds_succeeded > 50, "{summary:?}");
    assert_eq!(summary.refunds_open, 0, "{summary:?}");
    let options = TrainOptions {
        data: dir.clone(),
        labels: None,
        train_days: 3,
        test_days: 2,
        review_rate: 0.01,
        model_id: 1,
        fit: FitOptions {
            seed: 11,
            max_iterations: 100,
            ..FitOptions::default()
        },
    };
    let (model, report) = train(&options).unwrap();
    println!("{}", report_text(&report));
    assert_eq!(
        report.observations, summary.payments,
        "every payment observed"
    );
    assert!(report.test_fraud > 20, "{report:?}");
    // A random model would score about 0.5; the rules flag almost none of this fraud.
    assert!(report.auc_score > 0.85, "AUC {}", report.auc_score);
    assert!(report.auc_score > report.auc_rules + 0.2);
    assert!(report.score_at_rate.caught > report.rules_at_rate.caught);
    assert!(report.score_difference_max <= 1, "{report:?}");
    assert_eq!(report.clamped, 0, "{report:?}");
    assert!(!model.terms.is_empty());
    // The same seed gives the same model.
    let (again, _) = train(&options).unwrap();
    assert_eq!(again, model);
    let _ = std::fs::remove_dir_all(&dir);
}
