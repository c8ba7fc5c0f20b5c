"""Helpers shared by the test modules, so that no test module imports another (or a conftest):

* ``paths``: the repository's root and the test tree's folders;
* ``golden``: golden-file comparison of rendered scripts (tests/golden/);
* ``worker``: insert jobs and run ``jobman sql`` in subprocesses;
* ``dispatch``: run ``jobdispatch`` in a subprocess and read its launch directory;
* ``png``: an independent PNG decoder and blob finder to check the scatter plots;
* ``mlp``: the MLP tests' MNIST slice sizes and a channel that records what the experiment asks.
"""
