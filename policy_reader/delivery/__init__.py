"""What leaves the job: export files (CSV, Excel, JSON), the email and its body, the webhook."""
