"""localcloud's Function Compute 3.0 (API 2023-03-30): functions from the template (``models``), the ROA wire
side the official ``alibabacloud_fc20230330`` client talks to (``responses``), error codes (``exceptions``),
and the instances that run the code, the async queue, destinations and triggers (``runtime``)."""
