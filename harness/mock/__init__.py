"""The mock provider: scenarios, replay plans, goldens, the app, its API families."""
