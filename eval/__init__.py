"""Quality evaluations on the shared eval pages: extraction against human ground truth,
near-duplicate pairs."""
