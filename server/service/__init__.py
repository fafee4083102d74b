"""The use cases: the only package that knows vision, proctoring, the store and the LLM together.

``proctor.ProctorService`` composes them over one ``context.ServiceContext``; video analysis
(``video.py``) and its job queue (``jobs.py``) run on top of the frame and session use cases.
"""
