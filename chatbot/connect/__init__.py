"""Partner onboarding: invites, connecting an account without sharing secrets, and the
encrypted credentials the worker posts with (see ``crypto``, ``invites``, ``credentials``)."""
