import './base.css';
import './uplot.css';
import './training.css';
import './video.css';
import './model.css';
import './settings.css';
import './shell.css';
import './conversations.css';
