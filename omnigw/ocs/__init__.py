"""Online charging backends: CGRateS over JSON-RPC, and the embedded lab backend."""
