"""Identity: who a person is and how they prove it: sign-in, sessions, OAuth, verification codes,
profiles, creator applications and the administration of users.
"""
