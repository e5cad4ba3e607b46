"""Ensembles of small from-scratch CNNs with one binary output per finding."""
