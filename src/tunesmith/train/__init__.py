"""Fine-tuning recipes on TRL + PEFT."""
