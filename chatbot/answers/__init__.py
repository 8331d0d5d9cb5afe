"""Following a chat's answers on every platform it is hosted on.

The worker reads each platform (``follower``), places every answer under a question
(``grouping``) and writes it to a table that is purged a fixed time after the chat
(``store``); the console and ``chatbot chat follow`` read that table. A host's like, repost
or reply is queued as a post and sent by the same exactly-once engine (``actions``).

Participants' posts are third-party personal data: the tool shows and counts them, keeps no
profiles, no follower data, no export, and deletes them ``answers.keep`` after the follow
window closes; only the counts per question and platform remain.
"""
