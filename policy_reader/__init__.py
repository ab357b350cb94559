"""Policy Reader: policy PDFs in, a sourced table of answers out. The jobs API is `job_manager.py`."""

__version__ = "1.1.0"
