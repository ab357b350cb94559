"""Reading untrusted PDFs: text (PDFium), OCR, page images, and the reader processes that parse them."""
