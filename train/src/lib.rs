//! # sluice-train
//!
//! The learned risk score offline (docs/RISK_SCORE.md): simulated days with fraud patterns written
//! as a journal (`sim`), observations replayed from a journal with the engine's recorder
//! (`observe`), a logistic regression fitted with linfa and quantised to the engine's fixed-point
//! model (`fit`), its evaluation on held-out days against the rules alone (`evaluate`, `train`),
//! and the model file (`model_file`). Kept out of the engine: the engine only evaluates.

#![forbid(unsafe_code)]

pub mod evaluate;
pub mod fit;
pub mod labels;
pub mod model_file;
pub mod observe;
pub mod sim;
pub mod train;
