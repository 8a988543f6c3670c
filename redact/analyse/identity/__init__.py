"""Who is who: reference photos, face descriptors, and scoring tracks against them.

``gallery`` loads the people to keep (or to redact), ``embed`` turns a face
into a descriptor, ``scan`` samples each track's faces and scores them.  The
decision itself is :func:`redact.decide.policy.decide`, a pure function of the scores.
"""

from redact.analyse.identity.gallery import Gallery, People, Person, load_people

__all__ = ["Gallery", "People", "Person", "load_people"]
